"""Sealing a payload to its recipient: X25519 + HKDF-SHA256 + AES-256-GCM.

Only the holder of the recipient's X25519 private key can open a sealed payload; the hub
routes on envelope fields and never needs the plaintext (R43). The envelope id is the
associated data, so a sealed payload cannot be lifted into another envelope.
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import ValidationError

from contracts._b64 import b64decode, b64encode
from contracts.canonical import canonical_bytes
from contracts.codes import SystemId
from contracts.envelope import Declaration, Envelope, new_message_id
from contracts.keys import KeyRing
from contracts.payloads import PAYLOAD_BY_KIND, SEALED_KINDS, Payload, ReviewCopy, SealedPayload
from contracts.signing import Signer, describe_validation_error

__all__ = [
    "HKDF_INFO",
    "SealError",
    "SealedContentInvalid",
    "addressed",
    "addressed_envelope",
    "content_digest",
    "open_review",
    "open_sealed",
    "opened_by_recipient",
    "seal",
    "seal_bytes",
    "sealed_review",
    "sealed_under",
    "sealing_secret",
]

HKDF_INFO = b"sesshu-hub seal v1"
EPHEMERAL_INFO = b"sesshu-hub seal ephemeral v1"
SECRET_INFO = b"sesshu-hub seal secret v1"
_RAW = (serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class SealError(ValueError):
    """A sealed payload cannot be opened: wrong key, wrong envelope, or tampered with."""


class SealedContentInvalid(SealError):
    """A sealed payload opened, but its plaintext is not a valid payload of the kind."""


def opened_by_recipient(envelope: Envelope) -> bool:
    """Whether the envelope's recipient system is the one its sealed payload opens for:
    always, but for the provider's reply addressed to the network, which carries it
    unopened to the inquirer's intermediate server (R43)."""
    return not (envelope.kind == "provision_response" and envelope.recipient.system is SystemId.NWS)


def sealed_under(envelope: Envelope) -> UUID:
    """The envelope id a sealed payload is bound to (its associated data): the envelope's
    own, but for a reply the network carries, whose payload stays bound to the envelope it
    was sealed under, the carrier's `causation_id`."""
    carried = envelope.kind == "provision_response" and envelope.sender.system is SystemId.NWS
    if carried and envelope.causation_id is not None:
        return envelope.causation_id
    return envelope.id


def _key(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient, info=HKDF_INFO
    ).derive(shared)


def seal(
    payload: Payload,
    *,
    recipient_key_id: str,
    recipient: X25519PublicKey,
    envelope_id: UUID,
    secret: bytes | None = None,
) -> SealedPayload:
    """Encrypt the payload's canonical bytes to `recipient` for the envelope `envelope_id`
    (with `secret`, the same payload under the same id seals to the same bytes)."""
    plaintext = canonical_bytes(payload.model_dump(mode="json"))
    return seal_bytes(
        plaintext,
        recipient_key_id=recipient_key_id,
        recipient=recipient,
        envelope_id=envelope_id,
        secret=secret,
    )


def seal_bytes(
    plaintext: bytes,
    *,
    recipient_key_id: str,
    recipient: X25519PublicKey,
    envelope_id: UUID,
    secret: bytes | None = None,
) -> SealedPayload:
    """Encrypt `plaintext` as it is (what `seal` does with a payload's canonical bytes; a
    recipient refuses plaintext that is not a valid payload of the envelope's kind).

    The ephemeral key and the nonce are random, or, given the sender's `secret`, drawn
    from it, the envelope id, the recipient's key and the plaintext's hash: a message sent
    again under its id (an edge's resend after a crash) is then the same bytes, and the
    hub takes it for the duplicate it is. Any other plaintext, id or recipient draws
    another key, so no key and nonce ever seal two plaintexts."""
    recipient_raw = recipient.public_bytes(*_RAW)
    if secret is None:
        ephemeral, nonce = X25519PrivateKey.generate(), os.urandom(12)
    else:
        drawn = HKDF(
            algorithm=hashes.SHA256(),
            length=44,
            salt=envelope_id.bytes + recipient_raw + hashlib.sha256(plaintext).digest(),
            info=EPHEMERAL_INFO,
        ).derive(secret)
        ephemeral, nonce = X25519PrivateKey.from_private_bytes(drawn[:32]), drawn[32:]
    ephemeral_raw = ephemeral.public_key().public_bytes(*_RAW)
    key = _key(ephemeral.exchange(recipient), ephemeral_raw, recipient_raw)
    ciphertext = AESGCM(key).encrypt(nonce, plaintext, str(envelope_id).encode("ascii"))
    return SealedPayload(
        recipient_key_id=recipient_key_id,
        ephemeral_public_key=b64encode(ephemeral_raw),
        nonce=b64encode(nonce),
        ciphertext=b64encode(ciphertext),
    )


def sealing_secret(signer: Signer) -> bytes:
    """The secret a sender seals with (`seal`'s `secret`), drawn from its signing key
    under a label of its own, so the key itself never keys anything but signatures."""
    raw = signer.private_key.private_bytes_raw()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=SECRET_INFO).derive(raw)


def open_sealed(
    sealed: SealedPayload, *, private_key: X25519PrivateKey, envelope_id: UUID, kind: str
) -> Payload:
    """Decrypt and validate a sealed payload of message kind `kind`."""
    model = PAYLOAD_BY_KIND.get(kind)
    if model is None:
        raise SealError(f"no payload model for kind {kind}")
    plaintext = _decrypt(sealed, private_key, envelope_id)
    try:
        # The model's `kind` literal rejects a plaintext of another kind than the envelope's.
        return model.model_validate_json(plaintext)
    except ValidationError as exc:
        raise SealedContentInvalid(
            f"sealed plaintext is not a valid {kind} payload: {describe_validation_error(exc)}"
        ) from None


def open_review(
    sealed: SealedPayload, *, private_key: X25519PrivateKey, envelope_id: UUID
) -> ReviewCopy:
    """Decrypt and validate the review copy an envelope carries (`Envelope.review`)."""
    plaintext = _decrypt(sealed, private_key, envelope_id)
    try:
        return ReviewCopy.model_validate_json(plaintext)
    except ValidationError as exc:
        raise SealedContentInvalid(
            f"review: not a valid review copy: {describe_validation_error(exc)}"
        ) from None


def _decrypt(sealed: SealedPayload, private_key: X25519PrivateKey, envelope_id: UUID) -> bytes:
    try:
        ephemeral_raw = b64decode(sealed.ephemeral_public_key)
        nonce, ciphertext = b64decode(sealed.nonce), b64decode(sealed.ciphertext)
        recipient_raw = private_key.public_key().public_bytes(*_RAW)
        shared = private_key.exchange(X25519PublicKey.from_public_bytes(ephemeral_raw))
    except ValueError as exc:  # a model built in Python skips none of this, but may be odd
        raise SealError(f"sealed payload is malformed: {exc}") from None
    key = _key(shared, ephemeral_raw, recipient_raw)
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, str(envelope_id).encode("ascii"))
    except (InvalidTag, ValueError):
        raise SealError("sealed payload does not open with this key for this envelope") from None


def content_digest(payload: Payload) -> str:
    """The SHA-256 (hex) of a payload's canonical bytes: what a 所属長's approval
    attests, and what the inquirer checks the provision it opens against (R37)."""
    return hashlib.sha256(canonical_bytes(payload.model_dump(mode="json"))).hexdigest()


def sealed_review(
    review: ReviewCopy,
    ring: KeyRing,
    municipality: str,
    *,
    envelope_id: UUID,
    now: datetime | None = None,
    secret: bytes | None = None,
) -> SealedPayload:
    """`review` sealed to the desk of `municipality` (the provider's), for the envelope
    `envelope_id` that carries the provision."""
    key_id, public = ring.sealing_key_for(SystemId.DESK, municipality, now or datetime.now(UTC))
    plaintext = canonical_bytes(review.model_dump(mode="json"))
    return seal_bytes(
        plaintext, recipient_key_id=key_id, recipient=public, envelope_id=envelope_id, secret=secret
    )


def addressed(
    payload: Payload,
    ring: KeyRing,
    system: SystemId,
    municipality: str,
    *,
    envelope_id: UUID,
    now: datetime | None = None,
    secret: bytes | None = None,
) -> tuple[Payload, Declaration]:
    """What an envelope to `system` of `municipality` carries of `payload`: sealed to that
    system's newest sealing key in `ring` (as of `now`, with the sender's `secret`) if its
    kind identifies a person (`SEALED_KINDS`), as it is otherwise; and what the envelope
    declares of it."""
    declared = Declaration.of(payload)
    if payload.kind not in SEALED_KINDS:
        return payload, declared
    key_id, public = ring.sealing_key_for(system, municipality, now or datetime.now(UTC))
    sealed = seal(
        payload, recipient_key_id=key_id, recipient=public, envelope_id=envelope_id, secret=secret
    )
    return sealed, declared


def addressed_envelope(
    ring: KeyRing, *, payload: Payload, secret: bytes | None = None, **fields: Any
) -> Envelope:
    """`Envelope.new(payload=payload, **fields)` with the payload `addressed` to the
    envelope's recipient: the unsigned envelope a sender of `payload` builds (declaring
    what the payload holds, unless `fields` declares otherwise)."""
    message_id = fields.pop("message_id", None) or new_message_id()
    declaring = fields.pop("declared", None)
    recipient = fields["recipient"]
    carried, declared = addressed(
        payload,
        ring,
        SystemId(recipient.system),
        str(recipient.municipality),
        envelope_id=message_id,
        now=fields.get("sent_at"),
        secret=secret,
    )
    return Envelope.new(
        payload=carried,
        declared=declaring or declared,
        kind=payload.kind,
        message_id=message_id,
        **fields,
    )
