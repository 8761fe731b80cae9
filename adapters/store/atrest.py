"""Encryption at rest in a city's adapter database (R48): the municipality's data keys
(which columns they seal is `sealed`).

A ciphertext is bytea, and says which key sealed it, so a row written before a rotation
still opens while the old key is kept:

    blob = format (1 byte, 1) ‖ key id (8 bytes) ‖ nonce (12 bytes) ‖ AES-256-GCM ciphertext+tag
    AAD  = format ‖ key id ‖ table ‖ column ‖ row key   (each of the last three length-prefixed)

The associated data binds each ciphertext to its table, column and row (the row's primary
key): copied to another row or column, it does not open (`SealBroken`). Where a store finds
a person by a sealed value, it keeps a blind index beside it: HMAC-SHA256 over the column's
purpose and the normalised value (`normalised`), under a key derived from the data key with
HKDF (never the AES key itself). A look-up asks for the index under every key of the ring,
so it finds rows indexed before a rotation too.

Key files live outside the database, one folder per municipality (the stack's settings
say where): `<key_id>.datakey`, JSON `{"key_id", "municipality", "created_at", "key"}` (the
key as unpadded base64url of 32 bytes), written 0600. Every key of the folder opens; the
newest (`created_at`) seals and indexes. Nothing here ever puts a value, or key material,
in a message: errors name the file, the table and the column, and the reason.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import struct
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "KEY_SUFFIX",
    "DataKey",
    "DataKeyError",
    "DataKeys",
    "Place",
    "SealBroken",
    "key_id_of",
    "normalised",
    "write_data_key",
]

FORMAT = 1
KEY_ID_BYTES = 8
NONCE_BYTES = 12
KEY_BYTES = 32
KEY_SUFFIX = ".datakey"
_HEADER = 1 + KEY_ID_BYTES
# Two keys from one: AES-256-GCM seals, HMAC indexes. A leaked index key opens nothing.
_SEAL_INFO = b"sesshu/at-rest/aes-256-gcm/v1"
_INDEX_INFO = b"sesshu/at-rest/blind-index/v1"


class DataKeyError(ValueError):
    """A data key is missing, unreadable or invalid: the message names the municipality or
    the file and the field, never key material."""


class SealBroken(ValueError):
    """A ciphertext does not open under the ring: sealed by a key the ring lacks, moved to
    another row or column, or altered. Names the table and the column only."""


@dataclass(frozen=True)
class Place:
    """Where a ciphertext belongs: bound into its associated data."""

    table: str
    column: str
    row: str

    def associated(self, header: bytes) -> bytes:
        """The AAD: the blob's header, then table, column and row, each length-prefixed."""
        parts = [p.encode() for p in (self.table, self.column, self.row)]
        return header + b"".join(struct.pack(">I", len(p)) + p for p in parts)


@dataclass(frozen=True)
class DataKey:
    """One data key of a municipality."""

    key_id: str
    """16 lowercase hex digits (8 bytes), stored in every ciphertext it seals."""
    municipality: str
    created_at: datetime
    secret: bytes = field(repr=False)

    @classmethod
    def new(cls, municipality: str, now: datetime | None = None) -> DataKey:
        """A new random key (newer than every key made before `now`)."""
        return cls(
            secrets.token_hex(KEY_ID_BYTES),
            municipality,
            now or datetime.now(UTC),
            secrets.token_bytes(KEY_BYTES),
        )

    def document(self) -> dict[str, str]:
        """The key file's JSON."""
        key = base64.urlsafe_b64encode(self.secret).rstrip(b"=").decode()
        return {
            "key_id": self.key_id,
            "municipality": self.municipality,
            "created_at": self.created_at.isoformat(),
            "key": key,
        }

    @classmethod
    def read(cls, path: Path) -> DataKey:
        """A key file; DataKeyError naming the file and the field."""
        try:
            document = json.loads(path.read_bytes())
        except (OSError, ValueError):
            raise DataKeyError(f"{path.name}: not a readable JSON data key file") from None
        if not isinstance(document, dict):
            raise DataKeyError(f"{path.name}: not a JSON object")
        return cls(
            _key_id(path, document.get("key_id")),
            _field(path, document, "municipality"),
            _created(path, document.get("created_at")),
            _secret(path, document.get("key")),
        )


def _field(path: Path, document: Mapping[str, Any], name: str) -> str:
    value = document.get(name)
    if not isinstance(value, str) or not value:
        raise DataKeyError(f"{path.name}: {name} missing")
    return value


def _key_id(path: Path, value: object) -> str:
    ok = isinstance(value, str) and len(value) == 2 * KEY_ID_BYTES and _is_hex(value)
    if not ok or path.name != f"{value}{KEY_SUFFIX}":
        raise DataKeyError(f"{path.name}: key_id must be 16 hex digits and name the file")
    return str(value)


def _is_hex(value: str) -> bool:
    return all(c in "0123456789abcdef" for c in value)


def _created(path: Path, value: object) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise DataKeyError(f"{path.name}: created_at is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise DataKeyError(f"{path.name}: created_at has no time zone")
    return moment


def _secret(path: Path, value: object) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(str(value) + "=" * (-len(str(value)) % 4))
    except ValueError:
        raw = b""
    if len(raw) != KEY_BYTES:
        raise DataKeyError(f"{path.name}: key must be 32 bytes of base64url")
    return raw


def write_data_key(folder: Path, key: DataKey) -> Path:
    """Write a key file into a municipality's folder (made 0700), 0600 and exclusively."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / f"{key.key_id}{KEY_SUFFIX}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(key.document(), handle)
    return path


def _derive(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(secret)


def normalised(value: str) -> str:
    """What a blind index is computed over: NFKC (full-width digits become ASCII), without
    spaces or hyphens, so `１２３４-５６７８…` and `12345678…` find the same row."""
    folded = unicodedata.normalize("NFKC", value)
    return "".join(c for c in folded if not c.isspace() and c != "-")


class DataKeys:
    """A municipality's data keys: the newest seals and indexes, every one opens."""

    def __init__(self, keys: Iterable[DataKey]) -> None:
        ordered = sorted(keys, key=lambda k: (k.created_at, k.key_id))
        if not ordered:
            raise DataKeyError("no data key")
        if len({k.municipality for k in ordered}) != 1:
            raise DataKeyError("data keys of more than one municipality in one ring")
        self.keys = tuple(ordered)
        self.current = ordered[-1]
        self.municipality = self.current.municipality
        self._seal = {k.key_id: AESGCM(_derive(k.secret, _SEAL_INFO)) for k in ordered}
        self._index = {k.key_id: _derive(k.secret, _INDEX_INFO) for k in ordered}

    @classmethod
    def load(cls, folder: Path, municipality: str) -> DataKeys:
        """Every key file of a municipality's folder; DataKeyError if there is none, or one
        does not read, or belongs to another municipality."""
        paths = sorted(folder.glob(f"*{KEY_SUFFIX}")) if folder.is_dir() else []
        if not paths:
            raise DataKeyError(f"no data key for municipality {municipality}")
        keys = [DataKey.read(path) for path in paths]
        for key, path in zip(keys, paths, strict=True):
            if key.municipality != municipality:
                raise DataKeyError(f"{path.name}: municipality is not {municipality}")
        return cls(keys)

    @classmethod
    def fresh(cls, municipality: str) -> DataKeys:
        """A ring of one new key, in memory only (tests)."""
        return cls([DataKey.new(municipality)])

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every key id, oldest first (the current one last)."""
        return tuple(k.key_id for k in self.keys)

    def seal(self, plaintext: bytes, place: Place) -> bytes:
        """Ciphertext of `plaintext` under the current key, bound to `place`."""
        header = bytes([FORMAT]) + bytes.fromhex(self.current.key_id)
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._seal[self.current.key_id].encrypt(nonce, plaintext, place.associated(header))
        return header + nonce + sealed

    def open(self, blob: bytes, place: Place) -> bytes:
        """The plaintext of a ciphertext sealed for `place`; SealBroken otherwise."""
        where = f"{place.table}.{place.column}"
        cipher = self._seal.get(key_id_of(blob)) if len(blob) > _HEADER + NONCE_BYTES else None
        if cipher is None or blob[0] != FORMAT:
            raise SealBroken(f"{where}: sealed by a data key this ring does not hold")
        nonce, sealed = blob[_HEADER : _HEADER + NONCE_BYTES], blob[_HEADER + NONCE_BYTES :]
        try:
            return cipher.decrypt(nonce, sealed, place.associated(blob[:_HEADER]))
        except InvalidTag:
            raise SealBroken(
                f"{where}: does not open here (moved, altered or another key)"
            ) from None

    def index(self, value: str, purpose: str) -> bytes:
        """The blind index of a value under the current key."""
        return self._index_under(self.current.key_id, value, purpose)

    def indexes(self, value: str, purpose: str) -> list[bytes]:
        """The blind index of a value under every key, the current one first: what a
        look-up asks for, so that rows indexed before a rotation are found too."""
        return [self._index_under(k, value, purpose) for k in reversed(self.key_ids)]

    def _index_under(self, key_id: str, value: str, purpose: str) -> bytes:
        message = purpose.encode() + b"\x00" + normalised(value).encode()
        return hmac.new(self._index[key_id], message, hashlib.sha256).digest()


def key_id_of(blob: bytes) -> str:
    """The id of the key a ciphertext was sealed under (hex)."""
    return blob[1:_HEADER].hex()
