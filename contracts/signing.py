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
    ├── StaleMessage      stale_message     sent_at is further from now than the skew allows
    └── MalformedEnvelope contract_invalid  not a canonical JSON object, or breaks the contract
        └── OversizedEnvelope too_large     larger than the limit; not read at all

The checks run in that order, after the bytes have been read within their limits
(contracts/wire.py): nothing the envelope claims (sender, municipality, time) is looked at
before the signature over it has been verified. No reason quotes the input: it names the
field and the rule (`describe_validation_error`), and a key id only once the ring knows it.
A failure after the signature verified carries `signed_by`, the key that signed, so the
caller can keep what a known sender claimed apart from what anybody could have written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, get_args

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from contracts._b64 import b64decode, b64encode
from contracts.canonical import CanonicalError, canonical_bytes
from contracts.envelope import Envelope
from contracts.keys import SIGNING_KEY_SUFFIX, KeyEntry, KeyRing, load_signing_key
from contracts.payloads import Payload
from contracts.wire import TooLarge, WireError, WireLimits, read_document

__all__ = [
    "BadSignature",
    "Freshness",
    "KeyNotBound",
    "KeyNotValid",
    "MalformedEnvelope",
    "OversizedEnvelope",
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
    """An envelope failed verification; `code` is the stable reason code.

    `document` is the parsed envelope (signature removed) when the bytes were a canonical
    JSON object; `signed_by` is the ring entry whose key verified the signature, when the
    failure came after that check.
    """

    code: ClassVar[str] = "verification_failed"
    signed_by: KeyEntry | None = None
    document: dict[str, Any] | None = None


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


class OversizedEnvelope(MalformedEnvelope):
    """The body is larger than the configured limit; none of it was parsed."""

    code = "too_large"


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
    data: bytes,
    ring: KeyRing,
    *,
    now: datetime,
    freshness: Freshness,
    limits: WireLimits = WireLimits(),  # noqa: B008 - frozen, so one shared default is safe
) -> tuple[Envelope, KeyEntry]:
    """Verify the signature over the received bytes, then validate the contract and claims.

    The bytes must be the canonical form of the envelope (contracts/README.md), so what is
    journaled and forwarded is exactly what the sender signed; a sender in another language
    needs nothing but that page.
    """
    document = _canonical_document(data, limits)
    signature = document.pop("signature", None)
    try:
        entry = verify_signature(document.get("key_id"), signature, canonical_bytes(document), ring)
    except VerificationError as exc:
        exc.document = document
        raise
    try:
        try:
            # Strict: "1" is not 1 and "yes" is not true, so the model never re-spells what
            # the sender signed (every wire form is one spelling; contracts/README.md).
            envelope = Envelope.model_validate_json(data, strict=True)
        except ValidationError as exc:
            errors = exc.errors(include_input=False, include_url=False)
            raise MalformedEnvelope(describe_validation_error(exc), errors) from None
        _check_claims(envelope, entry, now, freshness)
    except VerificationError as exc:
        exc.signed_by, exc.document = entry, document
        raise
    return envelope, entry


def _canonical_document(data: bytes, limits: WireLimits) -> dict[str, Any]:
    try:
        document = read_document(data, limits)
    except TooLarge as exc:
        raise OversizedEnvelope(str(exc)) from None
    except WireError as exc:
        raise MalformedEnvelope(str(exc)) from None
    try:
        canonical = canonical_bytes(document)
    except CanonicalError:
        raise MalformedEnvelope("envelope: has no canonical form (a lone surrogate)") from None
    if canonical != data:
        raise MalformedEnvelope("envelope: bytes are not in canonical form")
    return document


def describe_validation_error(exc: ValidationError) -> str:
    """`field.path: rule; ...`, naming fields the contract knows and never quoting input."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False):
        parts.append(f"{_where(error)}: {_rule(error)}")
    return "; ".join(parts)


# Error types whose message is made of the schema alone (bounds, patterns, expected
# values). Others may quote the input (a union tag, a parser's "found `x` at 3"): those get
# a fixed text. `value_error` messages are this package's own validators'.
_SCHEMA_ONLY_MESSAGES = frozenset(
    {
        "missing",
        "extra_forbidden",
        "value_error",
        "string_type",
        "string_too_short",
        "string_too_long",
        "string_pattern_mismatch",
        "int_type",
        "bool_type",
        "none_required",
        "literal_error",
        "enum",
        "greater_than",
        "greater_than_equal",
        "less_than",
        "less_than_equal",
        "multiple_of",
        "too_short",
        "too_long",
        "tuple_type",
        "list_type",
        "dict_type",
        "model_type",
        "model_attributes_type",
        "date_type",
        "datetime_type",
        "uuid_type",
        "decimal_type",
        "union_tag_not_found",
    }
)
_FIXED_MESSAGES = {
    "union_tag_invalid": "kind is not one of the payload kinds (a message kind, or sealed)",
}


def _rule(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind in _SCHEMA_ONLY_MESSAGES:
        return error["msg"].removeprefix("Value error, ")
    return _FIXED_MESSAGES.get(kind, f"is not valid ({kind})")


def _where(error: ErrorDetails) -> str:
    """The field path, with member names the contract does not know left out."""
    loc = error["loc"]
    known = _member_names()
    parts: list[str] = []
    for index, part in enumerate(loc):
        if isinstance(part, int):
            parts.append(str(part))
        elif part in known:
            parts.append(part)
        elif error["type"] == "extra_forbidden" and index == len(loc) - 1:
            parts.append("(unknown member)")
        # Anything else is one of pydantic's own labels for a branch of a union.
    return ".".join(parts) or "(envelope)"


@cache
def _member_names() -> frozenset[str]:
    """Every member name and payload kind the contract defines."""
    names: set[str] = set()
    models: list[type[BaseModel]] = [Envelope]  # every payload model is below its `payload`
    seen: set[type[BaseModel]] = set()
    while models:
        model = models.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, field in model.model_fields.items():
            names.add(name)
            models.extend(_models_in(field.annotation))
        if issubclass(model, Payload):
            names.add(str(model.model_fields["kind"].default))  # a union tag in a path
    return frozenset(names)


def _models_in(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in get_args(annotation) for model in _models_in(arg)]


def verify_signature(key_id: object, signature: object, signed: bytes, ring: KeyRing) -> KeyEntry:
    """Check that `signature` over `signed` verifies under the ring's key `key_id`."""
    if not isinstance(key_id, str):
        raise UnknownKey("key_id: missing or not a string")
    entry = ring.get(key_id)
    if entry is None:
        # Not quoted: until the ring knows it, a key id is whatever the sender wrote.
        raise UnknownKey("key_id: names no key in the key ring")
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
