"""Envelopes as a sender builds them, for tests that make their own: a payload that
identifies a person sealed (to a given key, whatever the recipient: the hub does not look
at the key), and the declaration of what it holds (contracts/README.md, "Sealing")."""

from __future__ import annotations

from typing import Any

from contracts.envelope import Declaration, Envelope, new_message_id
from contracts.keys import GeneratedKey
from contracts.payloads import SEALED_KINDS, Payload
from contracts.sealing import seal

__all__ = ["SECRET", "sealed_envelope"]

SECRET = b"sesshu tests seal with this key."
"""What the tests seal with, as an adapter seals with its own: the same payload under the
same id is the same bytes (a resend is a duplicate, not an id conflict)."""


def sealed_envelope(payload: Payload, to: GeneratedKey, **fields: Any) -> Envelope:
    """`Envelope.new(payload=payload, **fields)`, the payload sealed to the key `to` when
    its kind travels sealed, and `declared` as the plaintext makes it unless `fields`
    declares otherwise."""
    message_id = fields.pop("message_id", None) or new_message_id()
    declared = fields.pop("declared", None) or Declaration.of(payload)
    carried: Payload = payload
    if payload.kind in SEALED_KINDS:
        carried = seal(
            payload,
            recipient_key_id=to.entry.key_id,
            recipient=to.sealing.public_key(),
            envelope_id=message_id,
            secret=SECRET,
        )
    return Envelope.new(
        payload=carried, declared=declared, kind=payload.kind, message_id=message_id, **fields
    )
