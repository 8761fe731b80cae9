"""Signing and verification: RFC 8032, property round trips, and every failure reason."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts._b64 import b64encode
from contracts.canonical import canonical_bytes
from contracts.codes import SystemId
from contracts.envelope import Declaration, Envelope, Party, Recipient
from contracts.examples import example_payload
from contracts.keys import GeneratedKey, KeyEntry, KeyRing, generate_key
from contracts.payloads import ResidentStatusFlag
from contracts.signing import (
    BadSignature,
    Freshness,
    KeyNotBound,
    KeyNotValid,
    MalformedEnvelope,
    RevokedKey,
    Signer,
    StaleMessage,
    UnknownKey,
    VerificationError,
    WrongTenant,
    parse_and_verify,
    verify,
    verify_signature,
)
from tests.sealed import sealed_envelope
from tests.strategies import NOW, envelopes, shift

FRESH = Freshness(max_age=timedelta(minutes=15), max_future=timedelta(seconds=60))

# RFC 8032 section 7.1, TEST 1 (empty message).
RFC8032_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)


def make_key(system: SystemId, municipality: str | None, key_id: str, **kw: object) -> GeneratedKey:
    return generate_key(
        system,
        municipality,
        valid_from=NOW - timedelta(days=30),
        key_id=key_id,
        **kw,  # type: ignore[arg-type]
    )


VRS = make_key(SystemId.VRS, "082279", "vrs-key-1")
IMS = make_key(SystemId.HEALTH_MGMT, "082279", "ims-key-1")
HUB = make_key(SystemId.HUB, None, "hub-key-1")
REVOKED = make_key(SystemId.VRS, "082279", "vrs-revoked")
EXPIRED = generate_key(
    SystemId.VRS,
    "082279",
    valid_from=NOW - timedelta(days=400),
    valid_for=timedelta(days=365),
    key_id="vrs-expired",
)
RING = KeyRing(
    [
        VRS.entry,
        IMS.entry,
        HUB.entry,
        REVOKED.entry.model_copy(update={"revoked": True}),
        EXPIRED.entry,
    ]
)


def signer(key: GeneratedKey) -> Signer:
    return Signer(key.entry.key_id, key.signing)


def test_rfc8032_test_1_through_our_signing_api() -> None:
    ours = Signer.from_seed("rfc8032-test-1", RFC8032_SECRET)
    assert ours.sign_bytes(b"") == b64encode(RFC8032_SIGNATURE)
    entry = KeyEntry(
        key_id="rfc8032-test-1",
        system=SystemId.HUB,
        municipality=None,
        signing_public_key=b64encode(RFC8032_PUBLIC),
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=1),
    )
    ring = KeyRing([entry])
    assert verify_signature("rfc8032-test-1", b64encode(RFC8032_SIGNATURE), b"", ring) == entry
    with pytest.raises(BadSignature):
        verify_signature("rfc8032-test-1", b64encode(RFC8032_SIGNATURE), b"\x00", ring)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(envelopes())
def test_sign_then_verify_round_trips(envelope: Envelope) -> None:
    signed = signer(VRS).sign(envelope)
    assert verify(signed, RING, now=NOW, freshness=FRESH) == VRS.entry
    wire = signed.to_bytes()
    parsed, entry = parse_and_verify(wire, RING, now=NOW, freshness=FRESH)
    assert entry == VRS.entry
    assert parsed == signed
    assert parsed.to_bytes() == wire


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(envelopes(), st.data())
def test_changing_any_one_byte_of_the_wire_form_fails(
    envelope: Envelope, data: st.DataObject
) -> None:
    wire = signer(VRS).sign(envelope).to_bytes()
    index = data.draw(st.integers(0, len(wire) - 1), label="index")
    replacement = data.draw(st.integers(0, 255).filter(lambda b: b != wire[index]), label="byte")
    tampered = wire[:index] + bytes([replacement]) + wire[index + 1 :]
    with pytest.raises(VerificationError):
        parse_and_verify(tampered, RING, now=NOW, freshness=FRESH)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(envelopes(), st.data())
def test_changing_any_one_byte_of_the_signed_bytes_fails(
    envelope: Envelope, data: st.DataObject
) -> None:
    signed = signer(VRS).sign(envelope)
    signing = signed.signing_bytes()
    index = data.draw(st.integers(0, len(signing) - 1))
    flipped = (
        signing[:index]
        + bytes([signing[index] ^ data.draw(st.integers(1, 255))])
        + signing[index + 1 :]
    )
    with pytest.raises(BadSignature):
        verify_signature(signed.key_id, signed.signature, flipped, RING)


FIELD_CHANGES: dict[str, Callable[[Envelope], dict[str, Any]]] = {
    "id": lambda e: {"id": Envelope.new(**_same(e)).id},
    "kind": lambda e: {"kind": "dose_record" if e.kind != "dose_record" else "vaccination_record"},
    "municipality": lambda e: {"municipality": "131016"},
    "sender": lambda e: {"sender": Party(system=e.sender.system, instance=e.sender.instance + "x")},
    "recipient": lambda e: {
        "recipient": Recipient(
            system=e.recipient.system,
            municipality="011070" if e.recipient.municipality != "011070" else "131016",
        )
    },
    "procedure": lambda e: {"procedure": "B2-17" if e.procedure != "B2-17" else "B2-18"},
    "data_items": lambda e: {"data_items": (*e.data_items, "zz.extra")},
    "correlation_id": lambda e: {"correlation_id": Envelope.new(**_same(e)).id},
    "causation_id": lambda e: {"causation_id": None if e.causation_id else e.id},
    "sent_at": lambda e: {"sent_at": e.sent_at + timedelta(microseconds=1)},
    "traceparent": lambda e: {
        "traceparent": None if e.traceparent else "00-" + "1" * 32 + "-" + "2" * 16 + "-01"
    },
    "schema_version": lambda e: {"schema_version": e.schema_version + 1},
    "key_id": lambda e: {"key_id": "hub-key-1"},
    "declared": lambda e: {
        "declared": Declaration(my_number=not e.declared.my_number, purpose=e.declared.purpose)
    },
}


def _same(envelope: Envelope) -> dict[str, Any]:
    return {
        "payload": envelope.payload,
        "kind": envelope.kind,
        "declared": envelope.declared,
        "municipality": envelope.municipality,
        "sender": envelope.sender,
        "recipient": envelope.recipient,
        "procedure": envelope.procedure,
        "key_id": envelope.key_id,
    }


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(envelopes(), st.sampled_from(sorted(FIELD_CHANGES)))
def test_changing_any_one_field_fails(envelope: Envelope, field: str) -> None:
    signed = signer(VRS).sign(envelope)
    changed = signed.model_copy(update=FIELD_CHANGES[field](signed))
    assert getattr(changed, field) != getattr(signed, field)
    with pytest.raises(BadSignature):
        verify_signature(changed.key_id, changed.signature, changed.signing_bytes(), RING)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(envelopes(), st.data())
def test_changing_the_payload_fails(envelope: Envelope, data: st.DataObject) -> None:
    signed = signer(VRS).sign(envelope)
    document = signed.to_document()
    payload = document["payload"]
    name = data.draw(
        st.sampled_from(sorted(k for k, v in payload.items() if isinstance(v, str) and k != "kind"))
    )
    payload[name] = (
        payload[name] + "0" if not payload[name].endswith("0") else payload[name][:-1] + "1"
    )
    with pytest.raises(VerificationError):
        parse_and_verify(canonical_bytes(document), RING, now=NOW, freshness=FRESH)


def an_envelope(
    system: SystemId = SystemId.VRS,
    municipality: str = "082279",
    key_id: str = "vrs-key-1",
    **kw: object,
) -> Envelope:
    payload = kw.pop("payload", None) or ResidentStatusFlag(
        basic_code="1234567", flag="moved_out", effective_on="2026-11-01"
    )
    fields: dict[str, Any] = {
        "municipality": municipality,
        "sender": Party(system=system, instance=f"{system.value.replace('_', '-')}-1"),
        "recipient": Recipient(system=SystemId.HEALTH_MGMT, municipality="082279"),
        "procedure": "S19-16",
        "key_id": key_id,
        "sent_at": NOW,
    }
    return sealed_envelope(payload, VRS, **(fields | kw))  # type: ignore[arg-type]


def wire(key: GeneratedKey, envelope: Envelope) -> bytes:
    return signer(key).sign(envelope).to_bytes()


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: wire(VRS, an_envelope(key_id="vrs-key-1")), None),
        (
            lambda: wire(VRS, an_envelope(key_id="vrs-key-1")).replace(
                b'"key_id":"vrs-key-1"', b'"key_id":"nobody-1"'
            ),
            UnknownKey,
        ),
        (lambda: wire(REVOKED, an_envelope(key_id="vrs-revoked")), RevokedKey),
        (lambda: wire(EXPIRED, an_envelope(key_id="vrs-expired")), KeyNotValid),
        (lambda: wire(IMS, an_envelope(key_id="ims-key-1")), KeyNotBound),
        (lambda: wire(VRS, an_envelope(municipality="131016")), WrongTenant),
        (lambda: wire(VRS, an_envelope(sent_at=shift(NOW, minutes=-16))), StaleMessage),
        (lambda: wire(VRS, an_envelope(sent_at=shift(NOW, seconds=61))), StaleMessage),
        (
            lambda: wire(
                HUB, an_envelope(system=SystemId.HUB, key_id="hub-key-1", municipality="131016")
            ),
            None,
        ),
        (lambda: _resigned_by(IMS, an_envelope()), BadSignature),
        (lambda: _unsigned(an_envelope()), BadSignature),
        (lambda: b"[1,2]", MalformedEnvelope),
        (lambda: b"\xff", MalformedEnvelope),
        (lambda: wire(VRS, an_envelope()).replace(b"{", b"{ ", 1), MalformedEnvelope),
    ],
    ids=[
        "valid",
        "unknown-key",
        "revoked-key",
        "key-outside-window",
        "key-of-another-system",
        "key-of-another-municipality",
        "stale-past",
        "stale-future",
        "shared-hub-key-any-municipality",
        "signature-by-another-key",
        "no-signature",
        "not-an-object",
        "not-utf8",
        "not-canonical",
    ],
)
def test_every_verification_failure_is_distinct(
    make: object, error: type[VerificationError] | None
) -> None:
    data = make()  # type: ignore[operator]
    if error is None:
        parse_and_verify(data, RING, now=NOW, freshness=FRESH)
        return
    with pytest.raises(VerificationError) as caught:
        parse_and_verify(data, RING, now=NOW, freshness=FRESH)
    assert type(caught.value) is error
    assert caught.value.code == error.code


def test_reason_codes_are_unique() -> None:
    errors: list[type[VerificationError]] = [
        UnknownKey,
        RevokedKey,
        BadSignature,
        KeyNotValid,
        KeyNotBound,
        StaleMessage,
        MalformedEnvelope,
        WrongTenant,
    ]
    assert len({e.code for e in errors}) == len(errors)


def _resigned_by(key: GeneratedKey, envelope: Envelope) -> bytes:
    forged = envelope.model_copy(
        update={"signature": Signer("x", key.signing).sign_bytes(envelope.signing_bytes())}
    )
    return forged.to_bytes()


def _unsigned(envelope: Envelope) -> bytes:
    return envelope.to_bytes()


def test_a_contract_breach_names_the_field_and_hides_the_value() -> None:
    signed = signer(VRS).sign(an_envelope(payload=example_payload("provision_record")))
    document = signed.to_document()
    document["payload"]["role"] = "emigrated"
    document.pop("signature")
    document["signature"] = Signer("vrs-key-1", VRS.signing).sign_bytes(canonical_bytes(document))
    with pytest.raises(MalformedEnvelope) as caught:
        parse_and_verify(canonical_bytes(document), RING, now=NOW, freshness=FRESH)
    assert "payload.provision_record.role" in str(caught.value)
    assert "emigrated" not in str(caught.value)
    assert caught.value.errors[0]["loc"][:2] == ("payload", "provision_record")


def test_floats_are_refused_before_anything_else() -> None:
    with pytest.raises(MalformedEnvelope, match="fraction or exponent"):
        parse_and_verify(b'{"schema_version":1.0}', RING, now=NOW, freshness=FRESH)


def test_a_loose_spelling_is_refused_even_when_signed() -> None:
    # "1" for 1 would validate in lax mode and re-serialize differently from what was signed.
    document = signer(VRS).sign(an_envelope()).to_document()
    document.pop("signature")
    document["schema_version"] = "1"
    document["signature"] = signer(VRS).sign_bytes(canonical_bytes(document))
    with pytest.raises(MalformedEnvelope, match="schema_version"):
        parse_and_verify(canonical_bytes(document), RING, now=NOW, freshness=FRESH)
