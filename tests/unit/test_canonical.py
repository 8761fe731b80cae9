"""Canonical bytes, the wire forms, and the worked example in contracts/README.md."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from pydantic import BaseModel, ValidationError

from contracts._b64 import b64encode
from contracts.broker import destinations
from contracts.canonical import (
    CanonicalError,
    Day,
    PlainDecimal,
    UtcDateTime,
    WireUUID,
    canonical_bytes,
)
from contracts.envelope import Declaration, Envelope, Party, Recipient
from contracts.keys import KeyEntry, KeyRing
from contracts.payloads import ResidentStatusFlag, SealedPayload
from contracts.sealing import open_sealed, seal, sealing_secret
from contracts.signing import Freshness, Signer, parse_and_verify
from hub.pipeline import Triage
from hub.settings import Settings
from routing.decision import Context
from routing.policy import load_policy

SPEC = Path(__file__).resolve().parents[2] / "contracts" / "README.md"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"b": 1, "a": [True, None, "x"]}, b'{"a":[true,null,"x"],"b":1}'),
        ({"名": "筑西市"}, '{"名":"筑西市"}'.encode()),
        ({"s": 'q"\\\n\t\x01\x7f'}, b'{"s":"q\\"\\\\\\n\\t\\u0001\x7f"}'),
        ({"e": "😀\u2028"}, '{"e":"😀\u2028"}'.encode()),
        ({"n": -9007199254740991}, b'{"n":-9007199254740991}'),
        ({}, b"{}"),
    ],
)
def test_canonical_bytes(value: Any, expected: bytes) -> None:
    assert canonical_bytes(value) == expected


@pytest.mark.parametrize(
    "value", [{"s": "\ud800"}, {"f": float("nan")}, {1: "x"}.keys(), {"o": object()}]
)
def test_values_without_a_canonical_form_are_refused(value: Any) -> None:
    with pytest.raises(CanonicalError):
        canonical_bytes(value)


class Forms(BaseModel):
    at: UtcDateTime | None = None
    day: Day | None = None
    amount: PlainDecimal | None = None
    uid: WireUUID | None = None


@pytest.mark.parametrize(
    ("field", "good", "bad"),
    [
        ("at", "2026-11-26T06:20:11.000000Z", "2026-11-26T06:20:11Z"),
        ("at", "2026-11-26T06:20:11.123456Z", "2026-11-26T15:20:11.123456+09:00"),
        ("day", "2026-11-26", "2026/11/26"),
        ("day", "2026-11-26", "2026-11-26T00:00:00"),
        ("amount", "0.5", "0.50"),
        ("amount", "12", "1.2e1"),
        ("amount", "-3.25", "+3.25"),
        ("uid", "0190a1f2-0000-7000-8000-000000000001", "0190A1F2-0000-7000-8000-000000000001"),
    ],
)
def test_each_wire_form_has_one_spelling(field: str, good: str, bad: str) -> None:
    parsed = Forms.model_validate_json(f'{{"{field}": "{good}"}}')
    assert parsed.model_dump(mode="json")[field] == good
    with pytest.raises(ValidationError) as caught:
        Forms.model_validate_json(f'{{"{field}": "{bad}"}}')
    assert caught.value.errors()[0]["loc"][0] == field


def test_python_values_are_brought_to_the_wire_form() -> None:
    forms = Forms(
        at=datetime(2026, 11, 26, 15, 20, 11, tzinfo=timezone(timedelta(hours=9))),
        day=date(2026, 11, 26),
        amount=Decimal("0.500"),
        uid=UUID("0190A1F2-0000-7000-8000-000000000001"),
    )
    assert forms.model_dump(mode="json") == {
        "at": "2026-11-26T06:20:11.000000Z",
        "day": "2026-11-26",
        "amount": "0.5",
        "uid": "0190a1f2-0000-7000-8000-000000000001",
    }
    with pytest.raises(ValidationError, match="time zone"):
        Forms(at=datetime(2026, 11, 26))  # noqa: DTZ001 - the point of the test


def _readme_block(label: str) -> str:
    match = re.search(
        rf"<!-- {label} -->\n```[a-z]*\n(.*?)\n```", SPEC.read_text(encoding="utf-8"), re.S
    )
    assert match, f"contracts/README.md has no block labelled {label}"
    return match.group(1)


VRS_SEALING = X25519PrivateKey.from_private_bytes(bytes(range(32, 64)))
"""The worked example's recipient: Chikusei's VRS, its X25519 private key 20 21 … 3f."""
VRS_KEY_ID = "vrs-082279-example"
FLAG = ResidentStatusFlag(basic_code="1234567", flag="moved_out", effective_on=date(2026, 11, 20))


def worked_example() -> tuple[Envelope, Signer, KeyRing]:
    """The envelope, key and ring of the worked example in contracts/README.md."""
    signer = Signer.from_seed("health_mgmt-082279-example", bytes(range(32)))
    message_id = UUID("019abf3c-2a00-7000-8000-000000000001")
    sealed = seal(
        FLAG,
        recipient_key_id=VRS_KEY_ID,
        recipient=VRS_SEALING.public_key(),
        envelope_id=message_id,
        secret=sealing_secret(signer),
    )
    envelope = Envelope.new(
        message_id=message_id,
        payload=sealed,
        kind=FLAG.kind,
        declared=Declaration.of(FLAG),
        municipality="082279",
        sender=Party(system="health_mgmt", instance="health-mgmt-1"),
        recipient=Recipient(system="vrs", municipality="082279"),
        procedure="S19-16",
        data_items=("covid.resident_status",),
        key_id="health_mgmt-082279-example",
        sent_at=datetime(2026, 11, 26, 6, 20, 11, tzinfo=UTC),
    )
    public = signer.private_key.public_key().public_bytes_raw()
    entry = KeyEntry(
        key_id="health_mgmt-082279-example",
        system="health_mgmt",
        municipality="082279",
        signing_public_key=b64encode(public),
        not_before=datetime(2026, 4, 1, tzinfo=UTC),
        not_after=datetime(2027, 4, 1, tzinfo=UTC),
    )
    return envelope, signer, KeyRing([entry])


def test_the_worked_example_in_the_spec_is_what_the_code_does() -> None:
    envelope, signer, ring = worked_example()
    assert canonical_bytes(FLAG.model_dump(mode="json")).decode() == _readme_block("plaintext")
    assert _readme_block("sealing-public-key") == b64encode(
        VRS_SEALING.public_key().public_bytes_raw()
    )
    assert envelope.signing_bytes().decode() == _readme_block("signing-input")
    signed = signer.sign(envelope)
    assert signed.signature == _readme_block("signature")
    assert signed.to_bytes().decode() == _readme_block("wire")
    assert _readme_block("public-key") == ring.get(envelope.key_id).signing_public_key  # type: ignore[union-attr]
    now = datetime(2026, 11, 26, 6, 21, tzinfo=UTC)
    received, _ = parse_and_verify(
        _readme_block("wire").encode(), ring, now=now, freshness=Freshness()
    )
    # ... and VRS, alone, opens it to the plaintext above.
    assert isinstance(received.payload, SealedPayload)
    opened = open_sealed(
        received.payload, private_key=VRS_SEALING, envelope_id=received.id, kind=received.kind
    )
    assert opened == FLAG


def test_the_shipped_policy_delivers_the_worked_example() -> None:
    envelope, _, ring = worked_example()
    body = _readme_block("wire").encode()
    triage = Triage(
        ring=ring,
        freshness=Freshness(),
        policy=load_policy(Settings().routing.directory()),
        context=Context(destinations=destinations(["082279"])),
    )
    entry = triage(body, datetime(2026, 11, 26, 6, 21, tzinfo=UTC), envelope.kind)
    assert (entry.decision, entry.routing_key) == ("deliver", "vrs.082279")
