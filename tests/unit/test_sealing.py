"""Sealing: only the recipient's private key opens a payload, and only in its envelope."""

from __future__ import annotations

from uuid import UUID

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts._b64 import b64decode, b64encode
from contracts.envelope import Envelope, Party, Recipient, new_message_id
from contracts.payloads import Payload, SealedPayload, TransferOutProvision
from contracts.sealing import SealError, open_sealed, seal
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
    )
    parsed = Envelope.model_validate_json(envelope.to_bytes())
    assert isinstance(parsed.payload, SealedPayload)
    assert parsed.kind == "transfer_out_provision"
    opened = open_sealed(
        parsed.payload, private_key=RECIPIENT, envelope_id=parsed.id, kind=parsed.kind
    )
    assert opened == PROVISION
