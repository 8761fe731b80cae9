"""Sealed payloads on the adapter side (R43, R50): sealed to a system of a city with the
sealing key the ring names for it, and opened with this system's own private keys, by
the key id the sealed payload names (so one sealed before a key rotation still opens).

Every kind that identifies a person travels sealed (`contracts.payloads.SEALED_KINDS`):
`contracts.sealing.addressed` seals such a payload and says what the envelope declares of
it (re-exported here); `delivered`
opens a delivery sealed to this system and refuses it (`Refusal`) when it does not open,
is not a valid payload of its kind, or holds other than the envelope declared.
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from contracts.envelope import Declaration, Envelope
from contracts.payloads import Payload, RefusalCode, SealedPayload
from contracts.sealing import (
    SealedContentInvalid,
    SealError,
    addressed,
    open_sealed,
    opened_by_recipient,
    sealed_under,
)

__all__ = ["Refusal", "SealingKeys", "addressed", "delivered"]

SealingKeys = Callable[[str], X25519PrivateKey]
"""This system's private sealing key of a key id (KeyError if it has none of that id):
a payload sealed before a key rotation still opens with the key it names."""


class Refusal(Exception):
    """A delivery its recipient refuses once opened: `code` (a `RefusalCode`) and a reason
    that names the member and the rule, never a value."""

    def __init__(self, code: RefusalCode, reason: str) -> None:
        super().__init__(reason)
        self.code: RefusalCode = code
        self.reason = reason


def delivered(envelope: Envelope, keys: SealingKeys | None) -> Envelope:
    """The delivery as its recipient reads it: a payload sealed to this system opened
    (with the key it names), checked against the envelope's declaration. A payload this
    system only carries (the provider's reply, through the network) stays sealed."""
    payload = envelope.payload
    if not isinstance(payload, SealedPayload) or not opened_by_recipient(envelope):
        return envelope
    plaintext = _open(envelope, payload, keys)
    actual = Declaration.of(plaintext)
    if actual.my_number != envelope.declared.my_number:
        holds = "holds a My Number" if actual.my_number else "holds no My Number"
        raise Refusal("declaration_mismatch", f"declared.my_number: the payload {holds}")
    if actual.purpose != envelope.declared.purpose:
        raise Refusal("declaration_mismatch", "declared.purpose: not the payload's purpose")
    # The opened payload stands in for the sealed one; the signed bytes stay the sender's.
    return envelope.model_copy(update={"payload": plaintext})


def _open(envelope: Envelope, sealed: SealedPayload, keys: SealingKeys | None) -> Payload:
    if keys is None:
        raise Refusal("not_openable", "payload: this system holds no sealing key")
    try:
        private = keys(sealed.recipient_key_id)
    except KeyError:
        raise Refusal(
            "not_openable", "payload.recipient_key_id: not a key of this system"
        ) from None
    try:
        return open_sealed(
            sealed, private_key=private, envelope_id=sealed_under(envelope), kind=envelope.kind
        )
    except SealedContentInvalid as exc:
        raise Refusal("content_invalid", _short(str(exc))) from None
    except SealError:
        raise Refusal("not_openable", "payload: does not open for this envelope") from None


def _short(reason: str) -> str:
    # DeliveryRefusal.reason is at most 200 characters.
    return reason if len(reason) <= 200 else reason[:197] + "..."
