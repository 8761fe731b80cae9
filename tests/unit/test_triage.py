"""The hub's pure decision path: bytes in, one journal entry with its decision out."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts.broker import DEAD_EXCHANGE, DELIVER_EXCHANGE, destinations
from contracts.canonical import canonical_bytes
from contracts.codes import SystemId
from contracts.envelope import Declaration, Envelope, Party, Recipient
from contracts.examples import PERSONAL_VALUES, example_payload
from contracts.keys import KeyRing, generate_key
from contracts.signing import Freshness, Signer
from hub.pipeline import Triage
from hub.settings import Settings
from routing.decision import Context
from routing.policy import load_policy
from tests.sealed import sealed_envelope

NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
START = NOW - timedelta(days=1)
IMS = generate_key(SystemId.HEALTH_MGMT, "082279", key_id="ims-1", valid_from=START)
VRS = generate_key(SystemId.VRS, "082279", key_id="vrs-1", valid_from=START)
KIOSK = generate_key(SystemId.KIOSK, "082279", key_id="kiosk-1", valid_from=START)
POLICY = load_policy(Settings().routing.directory())
TRIAGE = Triage(
    ring=KeyRing([IMS.entry, VRS.entry, KIOSK.entry]),
    freshness=Freshness(),
    policy=POLICY,
    context=Context(destinations=destinations(["082279", "082074"])),
)


def envelope(key: Any = IMS, **changes: Any) -> Envelope:
    fields: dict[str, Any] = {
        "municipality": "082279",
        "sender": Party(system=key.entry.system, instance="x-1"),
        "recipient": Recipient(system="vrs", municipality="082279"),
        "procedure": "S19-16",
        "data_items": ("covid.resident_status",),
        "key_id": key.entry.key_id,
        "sent_at": NOW,
    }
    fields |= changes
    return sealed_envelope(
        fields.pop("payload", example_payload("resident_status_flag")), VRS, **fields
    )


def wire(key: Any = IMS, **changes: Any) -> bytes:
    return Signer(key.entry.key_id, key.signing).sign(envelope(key, **changes)).to_bytes()


def test_a_good_envelope_is_delivered_under_its_id() -> None:
    body = wire()
    entry = TRIAGE(body, NOW)
    assert entry.decision == "deliver"
    assert entry.exchange == DELIVER_EXCHANGE
    assert entry.routing_key == "vrs.082279"
    assert entry.dedupe_key == f"id:{entry.message_id}"
    assert entry.canonical == body
    assert entry.policy_version == POLICY.version
    assert entry.reason_code is None
    assert entry.headers == {"x-sesshu-kind": "resident_status_flag"}


def test_the_trace_id_comes_from_traceparent() -> None:
    traceparent = "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"
    assert TRIAGE(wire(traceparent=traceparent), NOW).trace_id == "ab" * 16


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: wire().replace(b'"S19-16"', b'"S19-17"'), "bad_signature"),
        (lambda: wire(recipient=Recipient(system="vrs", municipality="131016")), "unroutable"),
        (lambda: wire(municipality="082074"), "wrong_tenant"),
        (lambda: wire(sent_at=NOW - timedelta(hours=2)), "stale_message"),
        (lambda: wire(VRS, sender=Party(system="health_mgmt", instance="x-1")), "key_not_bound"),
        (lambda: b"\xff\xfe", "contract_invalid"),
        (lambda: b'{"id":1}', "unknown_key"),
    ],
)
def test_each_refusal_is_a_dead_letter_keyed_by_its_bytes(make: Any, code: str) -> None:
    body = make()
    entry = TRIAGE(body, NOW)
    assert entry.decision == "reject"
    assert entry.reason_code == code
    assert entry.exchange == DEAD_EXCHANGE
    assert entry.routing_key == code
    assert entry.headers["x-sesshu-reason-code"] == code
    assert entry.dedupe_key == "sha256:" + hashlib.sha256(body).hexdigest()


def test_personal_data_in_plaintext_is_refused_without_quoting_it() -> None:
    # A kind that identifies a person travels sealed: in plaintext, the hub refuses it
    # (the bytes are kept as the evidence; the reason and the headers hold none of it).
    document = envelope(
        KIOSK,
        payload=example_payload("certificate_application"),
        data_items=("covid.certificate",),
    ).to_document()
    document["payload"] = example_payload("certificate_application").model_dump(mode="json")
    document["signature"] = None
    del document["signature"]
    document["signature"] = Signer("kiosk-1", KIOSK.signing).sign_bytes(canonical_bytes(document))
    entry = TRIAGE(canonical_bytes(document), NOW)
    assert entry.reason_code == "contract_invalid"
    assert (
        entry.reason
        == "(envelope): payload: this kind identifies a person and travels sealed (R43)"
    )
    shown = entry.reason + "".join(entry.headers.values())
    for value in PERSONAL_VALUES:
        assert value not in shown


def test_the_hub_routes_on_the_declaration_not_the_content() -> None:
    # R21 and R40 read what the sender declares: the hub cannot open the payload.
    flag = example_payload("resident_status_flag")
    declared_number = Declaration(my_number=True, purpose=None)
    entry = TRIAGE(wire(payload=flag, declared=declared_number), NOW)
    assert entry.reason_code == "my_number_purpose"
    to_network = wire(
        payload=flag,
        declared=Declaration(my_number=True, purpose="certificate"),
        recipient=Recipient(system="nws", municipality="082279"),
    )
    assert TRIAGE(to_network, NOW).reason_code == "my_number_on_network"
    allowed = Declaration(my_number=True, purpose="certificate")
    assert TRIAGE(wire(payload=flag, declared=allowed), NOW).decision == "deliver"


def test_a_forgery_keeps_only_values_from_closed_sets() -> None:
    # Nobody vouches for a message whose signature fails: its kind (one of the kinds) and
    # its key (one the ring knows) are kept; its id, sender and municipality are not.
    entry = TRIAGE(wire().replace(b'"S19-16"', b'"S19-17"'), NOW)
    assert entry.kind == "resident_status_flag"
    assert entry.key_id == "ims-1"
    assert entry.sender_system is None
    assert entry.message_id is None
    assert entry.municipality is None


def test_a_refusal_after_the_signature_verified_keeps_what_the_sender_signed() -> None:
    body = wire(sent_at=NOW - timedelta(hours=2))
    entry = TRIAGE(body, NOW)
    assert entry.reason_code == "stale_message"
    assert entry.message_id == json.loads(body)["id"]
    assert entry.sender_system == "health_mgmt"
    assert entry.municipality == "082279"
    assert entry.key_id == "ims-1"
