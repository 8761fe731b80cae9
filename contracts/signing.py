"""Ed25519 signatures over canonical bytes, and their verification against the key ring.

Verification fails with one exception class per reason, each with a stable `code` that
the hub journals and puts on the dead-letter headers:

    VerificationError
    ├── UnknownKey        unknown_key       key_id is not in the ring (or is missing)
    ├── RevokedKey        revoked_key       the key has been revoked
    ├── BadSignature      bad_signature     signature missing, malformed or not matching
    ├── KeyNotValid       key_not_valid     sent_at is outside the key's validity window
    ├── KeyNotBound       key_not_bound     the key is not the sender system's
    │   └── WrongTenant   wrong_tenant      the key is not the envelope municipality's (R14)
    └── StaleMessage      stale_message     sent_at is further from now than the skew allows

The checks run in that order: nothing the envelope claims (sender, municipality, time) is
looked at before the signature over it has been verified.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import ClassVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from contracts._b64 import b64decode, b64encode
from contracts.canonical import CanonicalError, canonical_bytes
from contracts.envelope import Envelope
from contracts.keys import SIGNING_KEY_SUFFIX, KeyEntry, KeyRing, load_signing_key

__all__ = [
    "BadSignature",
    "Freshness",
    "KeyNotBound",
    "KeyNotValid",
    "MalformedEnvelope",
    "RevokedKey",
    "Signer",
    "StaleMessage",
    "UnknownKey",
    "VerificationError",
    "WrongTenant",
    "parse_and_verify",
    "verify",
    "verify_signature",
]


class VerificationError(Exception):
    """An envelope failed verification; `code` is the stable reason code."""

    code: ClassVar[str] = "verification_failed"


class UnknownKey(VerificationError):
    """key_id is missing or not in the key ring."""

    code = "unknown_key"


class RevokedKey(VerificationError):
    """The signing key has been revoked."""

    code = "revoked_key"


class BadSignature(VerificationError):
    """The signature is missing, malformed or does not match the canonical bytes."""

    code = "bad_signature"


class KeyNotValid(VerificationError):
    """The envelope's sent_at lies outside the key's validity window."""

    code = "key_not_valid"


class KeyNotBound(VerificationError):
    """The key belongs to another system or municipality than the envelope claims."""

    code = "key_not_bound"


class WrongTenant(KeyNotBound):
    """The key belongs to another municipality than the envelope's tenant (R14)."""

    code = "wrong_tenant"


class StaleMessage(VerificationError):
    """sent_at is older, or further in the future, than the freshness window allows."""

    code = "stale_message"


class MalformedEnvelope(VerificationError):
    """The bytes are not a JSON object, or the signed envelope breaks its contract.

    For a contract breach `errors` holds pydantic's error list (inputs hidden) so the
    caller can name the field.
    """

    code = "contract_invalid"

    def __init__(self, message: str, errors: list[ErrorDetails] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


@dataclass(frozen=True)
class Freshness:
    """How far `sent_at` may lie from the verifier's clock."""

    max_age: timedelta = timedelta(minutes=15)
    max_future: timedelta = timedelta(seconds=60)


@dataclass(frozen=True)
class Signer:
    """A system's signing key: signs envelopes that name its key_id."""

    key_id: str
    private_key: Ed25519PrivateKey

    @classmethod
    def from_seed(cls, key_id: str, seed: bytes) -> Signer:
        """A signer from a raw 32-byte Ed25519 private key (RFC 8032's "secret key")."""
        return cls(key_id, Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def from_file(cls, path: Path) -> Signer:
        """The signer in a private key file written by `sesshu keys generate`
        (`<key_id>.signing.pem`: the key id is the file's name); ValueError names the
        problem (a wrong name, not a key, unreadable)."""
        if not path.name.endswith(SIGNING_KEY_SUFFIX):
            raise ValueError(f"must be named <key_id>{SIGNING_KEY_SUFFIX}")
        try:
            return cls(path.name.removesuffix(SIGNING_KEY_SUFFIX), load_signing_key(path))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{type(exc).__name__}: {exc}") from None

    def sign_bytes(self, data: bytes) -> str:
        """The unpadded base64url Ed25519 signature of `data`."""
        return b64encode(self.private_key.sign(data))

    def sign(self, envelope: Envelope) -> Envelope:
        """The envelope with its signature set."""
        if envelope.key_id != self.key_id:
            raise ValueError("envelope.key_id does not name this signer's key")
        signature = self.sign_bytes(envelope.signing_bytes())
        return envelope.model_copy(update={"signature": signature})


def verify(envelope: Envelope, ring: KeyRing, *, now: datetime, freshness: Freshness) -> KeyEntry:
    """Check a parsed envelope's signature and claims; return the key entry that signed it."""
    entry = verify_signature(envelope.key_id, envelope.signature, envelope.signing_bytes(), ring)
    _check_claims(envelope, entry, now, freshness)
    return entry


def parse_and_verify(
    data: bytes, ring: KeyRing, *, now: datetime, freshness: Freshness
) -> tuple[Envelope, KeyEntry]:
    """Verify the signature over the received bytes, then validate the contract and claims.

    The bytes must be the canonical form of the envelope (contracts/README.md), so what is
    journaled and forwarded is exactly what the sender signed; a sender in another language
    needs nothing but that page.
    """
    try:
        document = json.loads(data, parse_float=_no_float, parse_constant=_no_float)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise MalformedEnvelope("envelope is not UTF-8 JSON") from None
    if not isinstance(document, dict):
        raise MalformedEnvelope("envelope must be a JSON object")
    try:
        if canonical_bytes(document) != data:
            raise MalformedEnvelope("envelope bytes are not in canonical form")
    except CanonicalError:
        raise MalformedEnvelope("envelope has no canonical form") from None
    signature = document.pop("signature", None)
    key_id = document.get("key_id")
    entry = verify_signature(key_id, signature, canonical_bytes(document), ring)
    try:
        # Strict: "1" is not 1 and "yes" is not true, so the model never re-spells what the
        # sender signed (every wire form is one spelling; contracts/README.md).
        envelope = Envelope.model_validate_json(data, strict=True)
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
        raise MalformedEnvelope(describe_validation_error(exc), errors) from None
    _check_claims(envelope, entry, now, freshness)
    return envelope, entry


def _no_float(text: str) -> None:
    # Envelopes carry integers only; decimals travel as strings (contracts/README.md).
    raise MalformedEnvelope("envelope holds a non-integer number; decimals travel as strings")


def describe_validation_error(exc: ValidationError) -> str:
    """`field.path: reason; ...` without any input value."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in error["loc"]) or "(envelope)"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def verify_signature(key_id: object, signature: object, signed: bytes, ring: KeyRing) -> KeyEntry:
    """Check that `signature` over `signed` verifies under the ring's key `key_id`."""
    if not isinstance(key_id, str):
        raise UnknownKey("envelope names no key_id")
    entry = ring.get(key_id)
    if entry is None:
        raise UnknownKey(f"key {key_id} is not in the key ring")
    if entry.revoked:
        raise RevokedKey(f"key {key_id} is revoked")
    if not isinstance(signature, str):
        raise BadSignature("envelope carries no signature")
    try:
        ring.verifier(key_id).verify(b64decode(signature), signed)
    except (ValueError, InvalidSignature):
        raise BadSignature(f"signature does not verify under key {key_id}") from None
    return entry


def _check_claims(envelope: Envelope, entry: KeyEntry, now: datetime, fresh: Freshness) -> None:
    if not entry.valid_at(envelope.sent_at):
        raise KeyNotValid(f"key {entry.key_id} is not valid at the envelope's sent_at")
    if entry.system != envelope.sender.system:
        raise KeyNotBound(f"key {entry.key_id} does not belong to sender system")
    if entry.municipality is not None and entry.municipality != envelope.municipality:
        raise WrongTenant(f"key {entry.key_id} does not belong to the envelope's municipality")
    age = now - envelope.sent_at
    if age > fresh.max_age or -age > fresh.max_future:
        raise StaleMessage(f"sent_at is {age.total_seconds():.0f} s from now, outside the window")
