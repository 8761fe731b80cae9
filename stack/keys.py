"""Each party's keys in its own folder (`<key_root>/<party>/`): the newest valid ring entry
for its system and city whose private keys lie there, and making what a stack lacks."""

from __future__ import annotations

import functools
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from adapters.kit.shc import Issuer
from adapters.store.atrest import KEY_SUFFIX as DATA_KEY_SUFFIX
from contracts.codes import SystemId
from contracts.keys import (
    SIGNING_KEY_SUFFIX,
    KeyEntry,
    KeyRing,
    generate_key,
    load_sealing_key,
)
from contracts.signing import Signer
from hub.custody import (
    DESK_SIGNER_PREFIX,
    SERVER_CERTIFICATE,
    SERVER_KEY,
    check_custody,
    desks,
    hub_workers,
)
from stack.data_keys import provision_data_keys
from stack.parties import Party, parties_of

__all__ = [
    "CARD_AUTHORITY_PARTY",
    "DATA_KEY_SYSTEMS",
    "SHC_ISSUER_PARTY",
    "AdapterKeys",
    "card_authority",
    "card_authority_public",
    "check_party_folder",
    "keys_for",
    "party_folder",
    "provision_keys",
    "sealing_keys",
    "secret",
    "shc_issuer",
]


@dataclass(frozen=True)
class AdapterKeys:
    """What one adapter signs with and opens sealed payloads with."""

    signer: Signer
    sealing: X25519PrivateKey


def keys_for(ring: KeyRing, key_dir: Path, system: SystemId, city: str | None) -> AdapterKeys:
    """The adapter's keys; ValueError naming the system and city if it has none."""
    now = datetime.now(UTC)
    candidates = [
        entry
        for entry in ring
        if entry.system == system
        and (entry.municipality is None if city is None else str(entry.municipality) == city)
        and entry.valid_at(now)
        and not entry.revoked
        and (key_dir / f"{entry.key_id}{SIGNING_KEY_SUFFIX}").is_file()
    ]
    if not candidates:
        owner = f"{system.value} of {city}" if city else system.value
        raise ValueError(f"no valid key for {owner} in {key_dir} (sesshu stack keys)")
    entry = max(candidates, key=lambda e: e.not_before)
    signer = Signer.from_file(key_dir / f"{entry.key_id}{SIGNING_KEY_SUFFIX}")
    return AdapterKeys(signer, load_sealing_key(key_dir / f"{entry.key_id}.sealing.pem"))


def sealing_keys(key_dir: Path) -> Callable[[str], X25519PrivateKey]:
    """An adapter's private sealing keys by key id, read from `key_dir` when first asked
    for (KeyError for an id it has no key of)."""
    cache: dict[str, X25519PrivateKey] = {}

    def lookup(key_id: str) -> X25519PrivateKey:
        if key_id not in cache:
            path = key_dir / f"{key_id}.sealing.pem"
            if not path.is_file() or "/" in key_id:
                raise KeyError(key_id)
            cache[key_id] = load_sealing_key(path)
        return cache[key_id]

    return lookup


def provision_keys(
    cities: tuple[str, ...],
    key_root: Path,
    ring_dir: Path,
    *,
    shc_url: str = "",
) -> list[str]:
    """Generate the keys each party of a stack serving `cities` lacks (`hub.custody`),
    each in its own folder `key_root/<party>/` (0700, private keys 0600), with its entry in
    `ring_dir`: every system's signing and sealing key, the hub's, each city's desk review
    key (R37, all in the desk's folder); the intermediate servers' 符号 secret and the
    network's; VRS's certificate issuer key; health management's and VRS's data keys (R48,
    `<folder>/data/<code>/`); and the test card authority (`card-authority/`, J-LIS's
    stand-in for the simulators), whose public key VRS and the kiosk get. The key ids made."""
    authority = card_authority(key_root / CARD_AUTHORITY_PARTY)
    ring = KeyRing.load(ring_dir) if ring_dir.is_dir() else KeyRing([])
    made: list[str] = []
    for party in parties_of(cities):
        folder = party_folder(key_root, party)
        made += _own_keys(party, cities, folder, ring, ring_dir)
        if party.system is SystemId.NWS:
            secret(folder, "nws-individuals")
        if party.system is SystemId.INTERMEDIATE:
            secret(folder, f"linkage-{party.municipality}")
        if party.system is SystemId.VRS:  # one national issuer: each city's VRS signs as it
            issuer = shc_issuer(
                shc_url or "https://vrs.example.jp/shc", None, key_root / SHC_ISSUER_PARTY
            )
            _write_private(folder / SHC_ISSUER_FILE, issuer.key.as_pem(private=True))
        if party.system in (SystemId.VRS, SystemId.KIOSK):
            _write_public(folder / CARD_AUTHORITY_PUBLIC, authority.public_key())
        if party.system in DATA_KEY_SYSTEMS and party.municipality is not None:
            data = _private_folder(folder / "data")
            made += provision_data_keys((party.municipality,), data)
    return made


def _own_keys(
    party: Party, cities: tuple[str, ...], folder: Path, ring: KeyRing, ring_dir: Path
) -> list[str]:
    # The desk's folder holds one review key per city and its own signing key (a hub key
    # that is not the hub worker's: hub.custody); every other party's, one key.
    owners: list[tuple[SystemId, str | None]] = (
        [(SystemId.DESK, city) for city in cities] + [(SystemId.HUB, None)]
        if party.system is SystemId.DESK
        else [(party.system, party.municipality)]
    )
    made = []
    for system, city in owners:
        try:
            keys_for(ring, folder, system, city)
            continue
        except ValueError:
            pass
        start = datetime.now(UTC) - timedelta(minutes=5)
        signer_id = (
            f"{DESK_SIGNER_PREFIX}{start:%Y%m%d}-{secrets.token_hex(3)}"
            if party.system is SystemId.DESK and system is SystemId.HUB
            else None
        )
        key = generate_key(system, city, valid_from=start, key_id=signer_id)
        key.write(_private_folder(folder))
        entry = folder / f"{key.entry.key_id}.json"
        ring_dir.mkdir(parents=True, exist_ok=True)
        (ring_dir / entry.name).write_bytes(entry.read_bytes())
        made.append(key.entry.key_id)
    return made


def check_party_folder(folder: Path, party: Party, ring: KeyRing) -> None:
    """CustodyError unless `folder` holds only `party`'s own keys (hub.custody)."""

    def owner(entry: KeyEntry) -> bool:
        if party.system is SystemId.DESK:
            return desks(entry)
        if party.system is SystemId.HUB:
            return hub_workers(entry)
        city = None if entry.municipality is None else str(entry.municipality)
        return (entry.system, city) == (party.system, party.municipality)

    check_custody(
        folder, owner, ring, own_file=functools.partial(_own_file, party), party=party.name
    )


def _own_file(party: Party, relative: str) -> bool:
    if party.system in (SystemId.DESK, SystemId.KIOSK) and relative in SERVER_FILES:
        return True  # its HTTPS certificate and key (stack.launch)
    if party.system is SystemId.NWS:
        return relative == "nws-individuals.secret"
    if party.system is SystemId.INTERMEDIATE:
        return relative == f"linkage-{party.municipality}.secret"
    data = f"data/{party.municipality}/"
    if party.system in DATA_KEY_SYSTEMS and relative.startswith(data):
        return "/" not in relative[len(data) :] and relative.endswith(DATA_KEY_SUFFIX)
    return party.system is SystemId.VRS and relative == SHC_ISSUER_FILE


def party_folder(key_root: Path, party: Party) -> Path:
    """A party's own key folder under a stack's key root."""
    return key_root / party.name


def secret(key_dir: Path, name: str) -> bytes:
    """A system's own 32-byte secret `<name>.secret`, made on first use and kept (a city
    server's 符号 are drawn from it, the network's individual hashes keyed with it): never
    derived from a key that rotates."""
    path = key_dir / f"{name}.secret"
    _write_private(path, os.urandom(32).hex().encode())
    return bytes.fromhex(path.read_text().strip())


CARD_AUTHORITY_FILE = "card-authority.pem"
CARD_AUTHORITY_PUBLIC = "card-authority.pub.pem"
CARD_AUTHORITY_PARTY = "card-authority"
"""The folder of the test card authority's private key: J-LIS's, in no party's custody."""
SHC_ISSUER_FILE = "shc-issuer.pem"
SHC_ISSUER_PARTY = "shc-issuer"
"""The folder of the national VRS's certificate issuer key, copied to each city's VRS."""
SERVER_FILES = (SERVER_CERTIFICATE, SERVER_KEY)
DATA_KEY_SYSTEMS = frozenset({SystemId.HEALTH_MGMT, SystemId.VRS})
"""The systems whose stores hold sealed columns (adapters.store.sealed)."""


def card_authority(key_dir: Path) -> Ed25519PrivateKey:
    """The test card authority that signs simulated My Number Cards (made on first use).

    A real center trusts J-LIS's public key instead; only the simulator needs the
    private half."""
    path = key_dir / CARD_AUTHORITY_FILE
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        _write_private(path, key.private_bytes(*_PKCS8))
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError(f"{path.name}: not an Ed25519 private key")
    return loaded


def shc_issuer(url: str, key_file: Path | None, key_dir: Path) -> Issuer:
    """VRS's SMART Health Card issuer: the configured key, or one made on first use."""
    path = key_file or key_dir / SHC_ISSUER_FILE
    if key_file is None and not path.exists():
        _write_private(path, Issuer.generate(url).key.as_pem(private=True))
    return Issuer.load(url, path)


_PKCS8 = (
    serialization.Encoding.PEM,
    serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption(),
)


def _private_folder(folder: Path) -> Path:
    """A party's folder, made 0700 (only its owner may list or open what is in it)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    return folder


def _write_public(path: Path, key: Ed25519PublicKey) -> None:
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if not path.exists() or path.read_bytes() != pem:
        _private_folder(path.parent)
        path.write_bytes(pem)


def card_authority_public(folder: Path) -> Ed25519PublicKey:
    """The card authority's public key in a party's folder (VRS's, the kiosk's)."""
    loaded = serialization.load_pem_public_key((folder / CARD_AUTHORITY_PUBLIC).read_bytes())
    if not isinstance(loaded, Ed25519PublicKey):
        raise ValueError(f"{CARD_AUTHORITY_PUBLIC}: not an Ed25519 public key")
    return loaded


def _write_private(path: Path, pem: bytes) -> None:
    # Created 0600 and exclusively: a second process making the same key at the same
    # moment keeps the first one's.
    _private_folder(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
