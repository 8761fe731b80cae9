"""Sealing a payload to its recipient: X25519 + HKDF-SHA256 + AES-256-GCM.

Only the holder of the recipient's X25519 private key can open a sealed payload; the hub
routes on envelope fields and never needs the plaintext (R43). The envelope id is the
associated data, so a sealed payload cannot be lifted into another envelope.
"""

from __future__ import annotations

import os
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import ValidationError

from contracts._b64 import b64decode, b64encode
from contracts.canonical import canonical_bytes
from contracts.payloads import PAYLOAD_BY_KIND, Payload, SealedPayload
from contracts.signing import describe_validation_error

__all__ = ["HKDF_INFO", "SealError", "open_sealed", "seal"]

HKDF_INFO = b"sesshu-hub seal v1"
_RAW = (serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class SealError(ValueError):
    """A sealed payload cannot be opened: wrong key, wrong envelope, or tampered with."""


def _key(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient, info=HKDF_INFO
    ).derive(shared)


def seal(
    payload: Payload, *, recipient_key_id: str, recipient: X25519PublicKey, envelope_id: UUID
) -> SealedPayload:
    """Encrypt the payload's canonical bytes to `recipient` for the envelope `envelope_id`."""
    ephemeral = X25519PrivateKey.generate()
    ephemeral_raw = ephemeral.public_key().public_bytes(*_RAW)
    key = _key(ephemeral.exchange(recipient), ephemeral_raw, recipient.public_bytes(*_RAW))
    nonce = os.urandom(12)
    plaintext = canonical_bytes(payload.model_dump(mode="json"))
    ciphertext = AESGCM(key).encrypt(nonce, plaintext, str(envelope_id).encode("ascii"))
    return SealedPayload(
        recipient_key_id=recipient_key_id,
        ephemeral_public_key=b64encode(ephemeral_raw),
        nonce=b64encode(nonce),
        ciphertext=b64encode(ciphertext),
    )


def open_sealed(
    sealed: SealedPayload, *, private_key: X25519PrivateKey, envelope_id: UUID, kind: str
) -> Payload:
    """Decrypt and validate a sealed payload of message kind `kind`."""
    model = PAYLOAD_BY_KIND.get(kind)
    if model is None:
        raise SealError(f"no payload model for kind {kind}")
    try:
        ephemeral_raw = b64decode(sealed.ephemeral_public_key)
        nonce, ciphertext = b64decode(sealed.nonce), b64decode(sealed.ciphertext)
        recipient_raw = private_key.public_key().public_bytes(*_RAW)
        shared = private_key.exchange(X25519PublicKey.from_public_bytes(ephemeral_raw))
    except ValueError as exc:  # a model built in Python skips none of this, but may be odd
        raise SealError(f"sealed payload is malformed: {exc}") from None
    key = _key(shared, ephemeral_raw, recipient_raw)
    try:
        plaintext = AESGCM(key).decrypt(nonce, ciphertext, str(envelope_id).encode("ascii"))
    except (InvalidTag, ValueError):
        raise SealError("sealed payload does not open with this key for this envelope") from None
    try:
        # The model's `kind` literal rejects a plaintext of another kind than the envelope's.
        return model.model_validate_json(plaintext)
    except ValidationError as exc:
        raise SealError(
            f"sealed plaintext is not a valid {kind} payload: {describe_validation_error(exc)}"
        ) from None
