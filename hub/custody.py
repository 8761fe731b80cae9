"""Key custody (R43, issue 13): a process starts only with a key folder that is its own.

A folder is its party's when no one else may read it (0700, each file 0600) and every
private key in it is the party's: `<key_id>.signing.pem` and `.sealing.pem` whose ring entry
names the party's system and city, plus the few files of its own the caller names (a
secret, an issuer key, its data keys). Public parts (`.json` ring entries, `.pub.pem`) may
lie beside them. Anything else, another party's key above all, stops the process before it
connects to anything: one folder per party is what keeps an adapter from opening replies
sealed to another.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from contracts.codes import SystemId
from contracts.keys import KeyEntry, KeyRing, load_sealing_key, load_signing_key
from hub.settings import Settings

__all__ = [
    "DESK_SIGNER_PREFIX",
    "SERVER_CERTIFICATE",
    "SERVER_KEY",
    "CustodyError",
    "check_custody",
    "check_hub_side",
    "desks",
    "hub_workers",
]

PRIVATE_KEY_SUFFIXES = (".signing.pem", ".sealing.pem")
PUBLIC_SUFFIXES = (".json", ".pub.pem")

SERVER_CERTIFICATE, SERVER_KEY = "tls.pem", "tls.key"
"""A party's own HTTPS certificate and key, for the parties that serve (the desk, the
certificate centers): copies of `sesshu tls init`'s, kept with the party's keys."""

DESK_SIGNER_PREFIX = "hub-desk-"
"""The key id of the desk's own signing key: a hub key (recipients take the 所属長's
decisions from the hub alone) that is not the hub worker's, so neither holds the other's."""


def hub_workers(entry: KeyEntry) -> bool:
    """A hub worker's own keys: the hub's, but not the desk's signing key."""
    return entry.system is SystemId.HUB and not entry.key_id.startswith(DESK_SIGNER_PREFIX)


def desks(entry: KeyEntry) -> bool:
    """The desk's own keys: each city's review key and its own signing key."""
    if entry.system is SystemId.HUB:
        return entry.key_id.startswith(DESK_SIGNER_PREFIX)
    return entry.system is SystemId.DESK


class CustodyError(RuntimeError):
    """A key folder this process may not start with (the message names the file, never
    its content)."""


def check_custody(
    folder: Path,
    owner: Callable[[KeyEntry], bool],
    ring: KeyRing,
    *,
    own_file: Callable[[str], bool] = lambda relative: False,
    party: str,
) -> None:
    """Raise CustodyError unless `folder` holds only what `party` may, and only its owner
    may read it. What it may hold: its private keys (whose ring entry `owner` accepts and
    whose public halves are that entry's: a key copied under its name is refused), the
    files `own_file` accepts (by path relative to the folder), and ring entries and public
    keys that parse as such (a private key renamed `.json` is refused). Every file is a
    file of this process's user with one name: no symbolic or hard links."""
    if not folder.is_dir():
        raise CustodyError(f"{party}: key folder {folder} does not exist")
    _private(folder, party)
    for path in sorted(folder.rglob("*")):
        _private(path, party)
        if path.is_dir():
            continue
        relative = path.relative_to(folder).as_posix()
        if own_file(relative) or _public(path):
            continue
        key_id = _key_id(path.name)
        entry = ring.get(key_id) if key_id else None
        if entry is None or not owner(entry) or not _halves_match(path, entry):
            raise CustodyError(
                f"{party}: {folder} holds {relative}, which is not {party}'s private key; "
                "each party keeps only its own keys (move it to its owner's folder)"
            )


def _private(path: Path, party: str) -> None:
    status = path.lstat()
    if stat.S_ISLNK(status.st_mode):
        raise CustodyError(f"{party}: {path.name} is a symbolic link; keys are kept as files")
    if status.st_uid != os.getuid():
        raise CustodyError(f"{party}: {path} belongs to another user")
    if not stat.S_ISDIR(status.st_mode) and status.st_nlink != 1:
        raise CustodyError(f"{party}: {path} has other names (a hard link); keep one copy")
    if status.st_mode & 0o077 and not path.name.endswith(PUBLIC_SUFFIXES):
        wanted = "0700" if stat.S_ISDIR(status.st_mode) else "0600"
        raise CustodyError(
            f"{party}: {path} may be read by others (mode {stat.S_IMODE(status.st_mode):04o}; "
            f"chmod {wanted[1:]} it)"
        )


def _public(path: Path) -> bool:
    """A ring entry or a public key, as its name says (anything else under such a name,
    a private key above all, is not)."""
    try:
        if path.name.endswith(".json"):
            KeyEntry.model_validate_json(path.read_bytes())
            return True
        if path.name.endswith(".pub.pem"):
            serialization.load_pem_public_key(path.read_bytes())
            return True
    except (OSError, ValueError, TypeError):
        return False
    return False


def _key_id(name: str) -> str | None:
    for suffix in PRIVATE_KEY_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return None


def _halves_match(path: Path, entry: KeyEntry) -> bool:
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    try:
        if path.name.endswith(".signing.pem"):
            private = load_signing_key(path).public_key().public_bytes(*raw)
            return private == entry.signing_key().public_bytes(*raw)
        private = load_sealing_key(path).public_key().public_bytes(*raw)
        return private == entry.sealing_key().public_bytes(*raw)
    except (OSError, ValueError, TypeError):
        return False


def check_hub_side(settings: Settings, process: str) -> None:
    """CustodyError unless the hub worker's (`process` "hub") or the desk's ("desk") key
    folders hold only its own keys: the hub worker's signing key; the desk's review keys
    and its own signing key. Keys found beside their ring entries are recognised even
    where the ring is not (yet) readable."""
    owner = hub_workers if process == "hub" else desks
    folders = {settings.signing.hub_key_file.parent} if settings.signing.hub_key_file else set()
    if process == "desk" and settings.desk.review_key_dir is not None:
        folders.add(settings.desk.review_key_dir)
    try:
        ring = KeyRing.load(settings.signing.ring_dir)
    except (OSError, ValueError):
        ring = KeyRing([])
    for folder in sorted(folders):
        if folder.is_dir():  # none there: nothing to keep (the key file says so itself)
            check_custody(folder, owner, ring, own_file=_server_file, party=process)


def _server_file(relative: str) -> bool:
    return relative in (SERVER_CERTIFICATE, SERVER_KEY)
