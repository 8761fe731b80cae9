"""The JSON Schema files in contracts/schema/ are what the models say, and an outside
sender that checks its envelopes against them is refused nothing the schema accepts for the
forms it covers (check digits and canonical bytes are the README's)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from contracts.canonical import canonical_bytes
from contracts.codes import SystemId
from contracts.envelope import Party, Recipient, new_message_id
from contracts.examples import EXAMPLE_KINDS, example_payload
from contracts.keys import KeyRing, generate_key
from contracts.payloads import SEALED_KINDS
from contracts.schema import SCHEMA_DIR, schema_files
from contracts.sealing import SealedContentInvalid, open_sealed, seal_bytes
from contracts.signing import BadSignature, Freshness, MalformedEnvelope, Signer, parse_and_verify
from tests.sealed import sealed_envelope

KEY = generate_key(SystemId.VRS, "082279", key_id="vrs-schema-t")
SIGNER = Signer(KEY.entry.key_id, KEY.signing)
RING = KeyRing([KEY.entry])


def validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=FormatChecker())


ENVELOPE = validator("envelope.json")


def wire(kind: str) -> dict[str, Any]:
    envelope = sealed_envelope(
        example_payload(kind),
        KEY,
        municipality="082279",
        sender=Party(system="vrs", instance="vrs-1"),
        recipient=Recipient(system="health_mgmt", municipality="082279"),
        procedure="S19-16",
        data_items=("covid.dose",),
        key_id=SIGNER.key_id,
    )
    return SIGNER.sign(envelope).to_document()


def test_the_checked_in_schema_files_are_up_to_date() -> None:
    expected = schema_files()
    present = {
        str(path.relative_to(SCHEMA_DIR)): path.read_text(encoding="utf-8")
        for path in SCHEMA_DIR.rglob("*.json")
    }
    names = expected.keys() | present.keys()
    stale = sorted(name for name in names if expected.get(name) != present.get(name))
    assert not stale, f"contracts/schema is out of date (run `make schema`): {stale}"


@pytest.mark.parametrize("kind", EXAMPLE_KINDS)
def test_every_example_envelope_is_valid_under_the_schema(kind: str) -> None:
    document = wire(kind)
    ENVELOPE.validate(document)
    sealed = document["payload"]["kind"] == "sealed"
    assert sealed == (kind in SEALED_KINDS)
    # The plaintext is what its payload schema describes, sealed or not.
    validator(f"payloads/{kind}.json").validate(example_payload(kind).model_dump(mode="json"))
    if sealed:
        validator("payloads/sealed.json").validate(document["payload"])


def test_the_schema_refuses_a_plaintext_payload_of_a_kind_that_travels_sealed() -> None:
    document = wire("vaccination_record")
    document["payload"] = example_payload("vaccination_record").model_dump(mode="json")
    assert not ENVELOPE.is_valid(document)
    plain = wire("provision_record")
    ENVELOPE.validate(plain)
    plain["payload"] = wire("vaccination_record")["payload"]
    assert not ENVELOPE.is_valid(plain)


def _without_operator(document: dict[str, Any]) -> None:
    del document["sender"]["operator"]


BREACHES: dict[str, Any] = {
    "no sender.operator": _without_operator,
    "no signature": lambda d: d.pop("signature"),
    "an unknown member": lambda d: d.update({"extra": 1}),
    "a UUID in upper case": lambda d: d.update({"id": d["id"].upper()}),
    "a date-time without microseconds": lambda d: d.update({"sent_at": "2026-11-26T06:20:11Z"}),
    "plaintext of a kind that travels sealed": lambda d: d.update(
        {"payload": example_payload("vaccination_record").model_dump(mode="json")}
    ),
    "a 5-digit municipality": lambda d: d.update({"municipality": "08227"}),
    "a payload kind unknown": lambda d: d["payload"].update({"kind": "telegram"}),
}
PAYLOAD_BREACHES: dict[str, Any] = {
    "a decimal as a number": lambda d: d.update({"dose_volume_ml": 0.5}),
    "a lot number in lower case": lambda d: d.update({"lot_number": "ab-1"}),
}


@pytest.mark.parametrize("breach", BREACHES.values(), ids=BREACHES.keys())
def test_what_the_hub_refuses_for_its_form_the_schema_refuses_too(breach: Any) -> None:
    document = wire("vaccination_record")
    ENVELOPE.validate(document)
    breach(document)
    assert not ENVELOPE.is_valid(document)
    # ... and the hub does refuse it, signed anew by its sender as it now stands.
    if "signature" in document:
        del document["signature"]
        document["signature"] = SIGNER.sign_bytes(canonical_bytes(document))
    with pytest.raises((MalformedEnvelope, BadSignature)):
        parse_and_verify(
            canonical_bytes(document), RING, now=datetime.now(UTC), freshness=Freshness()
        )


@pytest.mark.parametrize("breach", PAYLOAD_BREACHES.values(), ids=PAYLOAD_BREACHES.keys())
def test_what_the_recipient_refuses_in_a_sealed_payload_the_payload_schema_refuses_too(
    breach: Any,
) -> None:
    schema = validator("payloads/vaccination_record.json")
    document = example_payload("vaccination_record").model_dump(mode="json")
    schema.validate(document)
    breach(document)
    assert not schema.is_valid(document)
    message_id = new_message_id()
    sealed = seal_bytes(
        canonical_bytes(document),
        recipient_key_id=KEY.entry.key_id,
        recipient=KEY.sealing.public_key(),
        envelope_id=message_id,
    )
    with pytest.raises(SealedContentInvalid):
        open_sealed(
            sealed, private_key=KEY.sealing, envelope_id=message_id, kind="vaccination_record"
        )
