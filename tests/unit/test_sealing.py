"""Sealing: only the recipient's private key opens a payload, and only in its envelope."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts._b64 import b64decode, b64encode
from contracts.canonical import canonical_bytes
from contracts.envelope import Declaration, Envelope, Party, Recipient, new_message_id
from contracts.examples import EXAMPLE_KINDS, example_payload
from contracts.payloads import SEALED_KINDS, Payload, SealedPayload, TransferOutProvision
from contracts.sealing import (
    SealedContentInvalid,
    SealError,
    open_sealed,
    seal,
    seal_bytes,
    sealed_under,
)
from tests.strategies import payloads

RECIPIENT = X25519PrivateKey.generate()
STRANGER = X25519PrivateKey.generate()
PROVISION = TransferOutProvision(
    inquiry_id="0190a1f2-0000-7000-8000-000000000001",
    my_number="123456789018",
    register_confirmed=True,
    status="no_record",
)


def seal_provision(envelope_id: UUID) -> SealedPayload:
    """PROVISION sealed to RECIPIENT for one envelope."""
    return seal(
        PROVISION,
        recipient_key_id="vrs-key-1",
        recipient=RECIPIENT.public_key(),
        envelope_id=envelope_id,
    )


@settings(max_examples=50)
@given(payloads())
def test_seal_then_open_round_trips(payload: Payload) -> None:
    message_id = new_message_id()
    sealed = seal(
        payload,
        recipient_key_id="vrs-key-1",
        recipient=RECIPIENT.public_key(),
        envelope_id=message_id,
    )
    assert (
        open_sealed(sealed, private_key=RECIPIENT, envelope_id=message_id, kind=payload.kind)
        == payload
    )


def test_the_ciphertext_does_not_hold_the_plaintext() -> None:
    sealed = seal_provision(
        new_message_id(),
    )
    assert b"123456789018" not in b64decode(sealed.ciphertext)
    assert "123456789018" not in sealed.model_dump_json()


def test_another_private_key_cannot_open() -> None:
    message_id = new_message_id()
    sealed = seal_provision(message_id)
    with pytest.raises(SealError):
        open_sealed(sealed, private_key=STRANGER, envelope_id=message_id, kind=PROVISION.kind)


def test_a_sealed_payload_cannot_be_moved_to_another_envelope() -> None:
    sealed = seal_provision(
        new_message_id(),
    )
    with pytest.raises(SealError):
        open_sealed(
            sealed, private_key=RECIPIENT, envelope_id=new_message_id(), kind=PROVISION.kind
        )


@given(st.data())
def test_any_change_to_the_ciphertext_is_detected(data: st.DataObject) -> None:
    message_id = new_message_id()
    sealed = seal_provision(message_id)
    raw = bytearray(b64decode(sealed.ciphertext))
    raw[data.draw(st.integers(0, len(raw) - 1))] ^= data.draw(st.integers(1, 255))
    tampered = sealed.model_copy(update={"ciphertext": b64encode(bytes(raw))})
    with pytest.raises(SealError):
        open_sealed(tampered, private_key=RECIPIENT, envelope_id=message_id, kind=PROVISION.kind)


def test_a_payload_of_another_kind_is_refused_on_opening() -> None:
    message_id = new_message_id()
    sealed = seal_provision(message_id)
    with pytest.raises(SealError, match="kind"):
        open_sealed(
            sealed, private_key=RECIPIENT, envelope_id=message_id, kind="transfer_in_inquiry"
        )


def test_an_envelope_carries_a_sealed_payload_under_its_kind() -> None:
    message_id = new_message_id()
    sealed = seal_provision(message_id)
    envelope = Envelope.new(
        payload=sealed,
        kind="transfer_out_provision",
        message_id=message_id,
        municipality="082279",
        sender=Party(system="vrs", instance="vrs-1"),
        recipient=Recipient(system="vrs", municipality="082074"),
        procedure="S19-16",
        key_id="vrs-key-1",
        declared=Declaration.of(PROVISION),
    )
    parsed = Envelope.model_validate_json(envelope.to_bytes())
    assert isinstance(parsed.payload, SealedPayload)
    assert parsed.kind == "transfer_out_provision"
    opened = open_sealed(
        parsed.payload, private_key=RECIPIENT, envelope_id=parsed.id, kind=parsed.kind
    )
    assert opened == PROVISION


def _fields(**changes: object) -> dict[str, Any]:
    return {
        "municipality": "082279",
        "sender": Party(system="vrs", instance="vrs-1"),
        "recipient": Recipient(system="vrs", municipality="082074"),
        "procedure": "S19-16",
        "key_id": "vrs-key-1",
    } | changes


@pytest.mark.parametrize("kind", sorted(SEALED_KINDS))
def test_a_kind_that_identifies_a_person_is_refused_in_plaintext(kind: str) -> None:
    with pytest.raises(ValueError, match="travels sealed"):
        Envelope.new(payload=example_payload(kind), **_fields())


@pytest.mark.parametrize("kind", sorted(set(EXAMPLE_KINDS) - SEALED_KINDS))
def test_every_other_kind_travels_in_plaintext(kind: str) -> None:
    payload = example_payload(kind)
    assert Envelope.new(payload=payload, **_fields()).payload == payload
    message_id = new_message_id()
    sealed = seal(
        payload, recipient_key_id="k-1", recipient=RECIPIENT.public_key(), envelope_id=message_id
    )
    with pytest.raises(ValueError, match="travels in plaintext"):
        Envelope.new(
            payload=sealed,
            kind=kind,
            message_id=message_id,
            declared=Declaration.of(payload),
            **_fields(),
        )


def test_a_plaintext_payload_declares_what_it_holds_and_may_not_declare_otherwise() -> None:
    flag = example_payload("permitted_list_update")
    assert Envelope.new(payload=flag, **_fields()).declared == Declaration(
        my_number=False, purpose=None
    )
    with pytest.raises(ValueError, match="declared: does not match the payload"):
        Envelope.new(payload=flag, declared=Declaration(my_number=True, purpose=None), **_fields())


def test_a_sealed_payload_needs_its_declaration() -> None:
    message_id = new_message_id()
    with pytest.raises(ValueError, match="declaration must be given"):
        Envelope.new(
            payload=seal_provision(message_id),
            kind=PROVISION.kind,
            message_id=message_id,
            **_fields(),
        )


def test_declarations_of_the_payloads_with_a_my_number_name_their_purpose() -> None:
    assert Declaration.of(PROVISION) == Declaration(
        my_number=True, purpose="transfer_out_provision"
    )
    assert Declaration.of(example_payload("vaccination_export")) == Declaration(
        my_number=False, purpose=None
    )


def _opened_document(document: dict[str, object], kind: str) -> Payload:
    message_id = new_message_id()
    sealed = seal_bytes(
        canonical_bytes(document),
        recipient_key_id="k-1",
        recipient=RECIPIENT.public_key(),
        envelope_id=message_id,
    )
    return open_sealed(sealed, private_key=RECIPIENT, envelope_id=message_id, kind=kind)


def test_the_recipient_reads_a_decimal_written_as_a_json_number_as_the_hub_would_refuse_it() -> (
    None
):
    document = example_payload("vaccination_record").model_dump(mode="json")
    assert document["dose_volume_ml"] == "0.5"
    assert _opened_document(document, "vaccination_record") == example_payload("vaccination_record")
    document["dose_volume_ml"] = 1
    with pytest.raises(SealedContentInvalid) as refused:
        _opened_document(document, "vaccination_record")
    assert str(refused.value) == (
        "sealed plaintext is not a valid vaccination_record payload: "
        "dose_volume_ml: decimal must be a string such as 0.5"
    )


def test_the_recipient_reads_a_boolean_as_no_integer_even_where_the_values_are_1_2_9() -> None:
    document = example_payload("target_registration").model_dump(mode="json")
    document["targets"][0]["sex"] = True  # True == 1 in Python
    with pytest.raises(SealedContentInvalid, match="sex: must be an integer, not a boolean"):
        _opened_document(document, "target_registration")


def test_the_recipient_refuses_a_my_number_inside_an_export_r22() -> None:
    document = example_payload("vaccination_export").model_dump(mode="json")
    document["rows"][0]["basic_code"] = "123456789018"
    with pytest.raises(SealedContentInvalid, match="My Number check digit") as refused:
        _opened_document(document, "vaccination_export")
    assert "123456789018" not in str(refused.value)


def test_a_reply_the_network_carries_stays_bound_to_the_providers_envelope() -> None:
    provider_id, carrier_id = new_message_id(), new_message_id()
    fields = _fields(
        sender=Party(system="nws", instance="nws-1"),
        recipient=Recipient(system="intermediate", municipality="082279"),
        procedure="B2-115-2",
    )
    carried = Envelope.new(
        payload=seal_provision(provider_id),
        kind="provision_response",
        message_id=carrier_id,
        causation_id=provider_id,
        declared=Declaration(my_number=False, purpose=None),
        **fields,
    )
    assert sealed_under(carried) == provider_id
