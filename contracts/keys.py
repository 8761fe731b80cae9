"""Key ring entries, the key ring directory, and key generation.

Directory format (contracts/README.md, "Key ring"): every `*.json` file in the directory is
one ring entry (`KeyEntry`); other files are ignored, so private keys may sit beside their
entries in an adapter's own key directory. The hub's ring directory holds entries only.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Self

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError, model_validator

from contracts._b64 import b64decode, b64encode
from contracts.canonical import UtcDateTime
from contracts.codes import LocalGovCode, SystemId

__all__ = [
    "SIGNING_KEY_SUFFIX",
    "GeneratedKey",
    "KeyEntry",
    "KeyRing",
    "KeyRingError",
    "generate_key",
    "load_sealing_key",
    "load_signing_key",
]

SIGNING_KEY_SUFFIX = ".signing.pem"
RawKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{43}$")]
# Systems that serve every municipality of a deployment rather than one of them.
SHARED_SYSTEMS = frozenset({SystemId.HUB, SystemId.NWS})


class KeyRingError(ValueError):
    """A key file is missing, unreadable or invalid; the message names the file and field."""


class KeyEntry(BaseModel):
    """One public key of the ring and what it may sign for."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key_id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{2,63}$")]
    system: SystemId
    municipality: LocalGovCode | None
    signing_public_key: RawKey
    sealing_public_key: RawKey | None = None
    not_before: UtcDateTime
    not_after: UtcDateTime
    revoked: bool = False
    comment: Annotated[str, StringConstraints(max_length=200)] = ""

    @model_validator(mode="after")
    def _sane(self) -> Self:
        if self.not_after <= self.not_before:
            raise ValueError("not_after must be later than not_before")
        if self.municipality is None and self.system not in SHARED_SYSTEMS:
            raise ValueError(f"municipality is required for system {self.system.value}")
        for name in ("signing_public_key", "sealing_public_key"):
            value = getattr(self, name)
            if value is not None and len(b64decode(value)) != 32:
                raise ValueError(f"{name} must be 32 bytes")
        return self

    def valid_at(self, moment: datetime) -> bool:
        """True if `moment` falls in [not_before, not_after)."""
        return self.not_before <= moment < self.not_after

    def signing_key(self) -> Ed25519PublicKey:
        """The Ed25519 public key object."""
        return Ed25519PublicKey.from_public_bytes(b64decode(self.signing_public_key))

    def sealing_key(self) -> X25519PublicKey:
        """The X25519 public key that payloads for this system are sealed to."""
        if self.sealing_public_key is None:
            raise KeyRingError(f"key {self.key_id} has no sealing_public_key")
        return X25519PublicKey.from_public_bytes(b64decode(self.sealing_public_key))


class KeyRing:
    """`key_id` -> `KeyEntry`, with the public key objects built once."""

    def __init__(self, entries: list[KeyEntry]) -> None:
        self._entries: dict[str, KeyEntry] = {}
        self._verifiers: dict[str, Ed25519PublicKey] = {}
        for entry in entries:
            if entry.key_id in self._entries:
                raise KeyRingError(f"key_id {entry.key_id} appears twice")
            self._entries[entry.key_id] = entry
            self._verifiers[entry.key_id] = entry.signing_key()

    @classmethod
    def load(cls, directory: Path) -> KeyRing:
        """Every `*.json` entry in `directory`; every bad file is reported, with its field."""
        if not directory.is_dir():
            raise KeyRingError(f"key ring directory {directory} does not exist")
        entries: list[KeyEntry] = []
        problems: list[str] = []
        for path in sorted(directory.glob("*.json")):
            try:
                entries.append(_read_entry(path))
            except KeyRingError as exc:
                problems.append(str(exc))
        if problems:
            raise KeyRingError("; ".join(problems))
        return cls(entries)

    def get(self, key_id: str) -> KeyEntry | None:
        """The entry for `key_id`, or None."""
        return self._entries.get(key_id)

    def verifier(self, key_id: str) -> Ed25519PublicKey:
        """The Ed25519 public key of a known `key_id`."""
        return self._verifiers[key_id]

    def sealing_key_for(
        self, system: SystemId, municipality: str, at: datetime
    ) -> tuple[str, X25519PublicKey]:
        """The newest valid, unrevoked sealing key of a system in a municipality (for the
        shared systems, the network and the hub, their one key for every municipality)."""
        shared = system in SHARED_SYSTEMS
        candidates = [
            e
            for e in self._entries.values()
            if e.system == system
            and (e.municipality is None if shared else e.municipality == municipality)
            and e.sealing_public_key is not None
            and not e.revoked
            and e.valid_at(at)
        ]
        if not candidates:
            raise KeyRingError(f"no valid sealing key for {system.value}.{municipality}")
        newest = max(candidates, key=lambda e: e.not_before)
        return newest.key_id, newest.sealing_key()

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[KeyEntry]:
        return iter(self._entries.values())


def _read_entry(path: Path) -> KeyEntry:
    try:
        # Strict, as envelopes are: "revoked": "yes" is not true, a time is a string.
        entry = KeyEntry.model_validate_json(path.read_bytes(), strict=True)
    except OSError as exc:
        raise KeyRingError(f"{path.name}: cannot read ({exc.strerror})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(file)"
        raise KeyRingError(f"{path.name}: {where}: {first['msg']}") from None
    if path.stem != entry.key_id:
        raise KeyRingError(f"{path.name}: key_id must equal the file name ({path.stem})")
    return entry


@dataclass(frozen=True)
class GeneratedKey:
    """A fresh signing and sealing key pair with its ring entry."""

    entry: KeyEntry
    signing: Ed25519PrivateKey
    sealing: X25519PrivateKey

    def write(self, directory: Path) -> list[Path]:
        """Write `<key_id>.json` and the two private keys (`.signing.pem`, `.sealing.pem`);
        a folder made for them is 0700, as a key folder must be (hub.custody)."""
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        entry_path = directory / f"{self.entry.key_id}.json"
        if entry_path.exists():
            raise KeyRingError(f"{entry_path.name} already exists")
        written = [entry_path]
        entry_path.write_text(json.dumps(self.entry.model_dump(mode="json"), indent=2) + "\n")
        for suffix, key in (("signing", self.signing), ("sealing", self.sealing)):
            path = directory / f"{self.entry.key_id}.{suffix}.pem"
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            # Created 0600 from the start: the key never exists world-readable, not even briefly.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
            written.append(path)
        return written


def generate_key(
    system: SystemId,
    municipality: str | None,
    *,
    valid_from: datetime | None = None,
    valid_for: timedelta = timedelta(days=365),
    key_id: str | None = None,
    comment: str = "",
) -> GeneratedKey:
    """A new Ed25519 signing key and X25519 sealing key for one system in one municipality."""
    signing = Ed25519PrivateKey.generate()
    sealing = X25519PrivateKey.generate()
    start = valid_from or datetime.now(UTC)
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    entry = KeyEntry(
        key_id=key_id
        or f"{system.value}-{municipality or 'shared'}-{start:%Y%m%d}-{secrets.token_hex(3)}",
        system=system,
        municipality=None if municipality is None else LocalGovCode(municipality),
        signing_public_key=b64encode(signing.public_key().public_bytes(*raw)),
        sealing_public_key=b64encode(sealing.public_key().public_bytes(*raw)),
        not_before=start,
        not_after=start + valid_for,
        comment=comment,
    )
    return GeneratedKey(entry=entry, signing=signing, sealing=sealing)


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """An Ed25519 private key from a PKCS#8 PEM file."""
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyRingError(f"{path.name} is not an Ed25519 private key")
    return key


def load_sealing_key(path: Path) -> X25519PrivateKey:
    """An X25519 private key from a PKCS#8 PEM file."""
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, X25519PrivateKey):
        raise KeyRingError(f"{path.name} is not an X25519 private key")
    return key
