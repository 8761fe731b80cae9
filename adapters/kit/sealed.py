"""Sealed payloads on the adapter side (R43, R50): sealed to a system of a city with the
sealing key the ring names for it, and opened with this system's own private keys, by
the key id the sealed payload names (so one sealed before a key rotation still opens).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from contracts.codes import SystemId
from contracts.envelope import Envelope
from contracts.keys import KeyRing
from contracts.payloads import Payload, SealedPayload
from contracts.sealing import SealError, open_sealed, seal

__all__ = ["SealingKeys", "opened", "sealed_to"]

SealingKeys = Callable[[str], X25519PrivateKey]
"""This system's private sealing key of a key id (KeyError if it has none of that id):
a payload sealed before a key rotation still opens with the key it names."""

P = TypeVar("P", bound=Payload)


def sealed_to(
    payload: Payload,
    ring: KeyRing,
    system: SystemId,
    municipality: str,
    *,
    envelope_id: UUID,
    now: datetime | None = None,
) -> SealedPayload:
    """`payload` sealed to `system` of `municipality` with its newest sealing key in
    `ring` (as of `now`), bound to the envelope `envelope_id` that is to carry it."""
    key_id, public = ring.sealing_key_for(system, municipality, now or datetime.now(UTC))
    return seal(payload, recipient_key_id=key_id, recipient=public, envelope_id=envelope_id)


def opened(
    envelope: Envelope, model: type[P], keys: SealingKeys, *, bound_to: UUID | None = None
) -> P:
    """The payload of a delivery sealed to this system, opened with the key it names (the
    envelope it is bound to is this one unless `bound_to` says otherwise); SealError if it
    does not open, TypeError if it is not a `model`."""
    payload: Payload = envelope.payload
    if isinstance(payload, SealedPayload):
        payload = open_sealed(
            payload,
            private_key=_private_key(keys, payload.recipient_key_id),
            envelope_id=bound_to or envelope.id,
            kind=envelope.kind,
        )
    if not isinstance(payload, model):
        raise TypeError(f"payload: a {envelope.kind} delivery does not hold a {model.__name__}")
    return payload


def _private_key(keys: SealingKeys, key_id: str) -> X25519PrivateKey:
    try:
        return keys(key_id)
    except KeyError:
        raise SealError(f"no private key {key_id}") from None
