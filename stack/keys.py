"""Each adapter's keys: the newest valid ring entry for its system and city whose private
keys lie in the adapters' key directory."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from adapters.kit.shc import Issuer
from contracts.codes import SystemId
from contracts.keys import SIGNING_KEY_SUFFIX, KeyRing, generate_key, load_sealing_key
from contracts.signing import Signer
from stack.data_keys import provision_data_keys

__all__ = [
    "AdapterKeys",
    "card_authority",
    "keys_for",
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
    key_dir: Path,
    ring_dir: Path,
    *,
    shc_url: str = "",
    data_key_dir: Path | None = None,
    review_key_dir: Path | None = None,
) -> list[str]:
    """Generate the keys every adapter of `cities` (and the network, and the hub) lacks:
    private keys into `key_dir`, ring entries into `ring_dir`, the test card authority
    and certificate issuer keys, each city's data key (R48) into `data_key_dir/<code>/`
    (unset: `key_dir/data/<code>/`, as the settings say), and each city's desk review key
    (R37) into `review_key_dir` (unset: `desk` beside `key_dir`). The key ids made."""
    card_authority(key_dir)
    shc_issuer(shc_url or "https://vrs.example.jp/shc", None, key_dir)
    secret(key_dir, "nws-individuals")
    for code in cities:
        secret(key_dir, f"linkage-{code}")
    made = provision_data_keys(cities, data_key_dir or key_dir / "data")
    ring = KeyRing.load(ring_dir) if ring_dir.is_dir() else KeyRing([])
    owners: list[tuple[SystemId, str | None]] = [
        (system, city)
        for city in cities
        for system in (SystemId.HEALTH_MGMT, SystemId.INTERMEDIATE, SystemId.VRS, SystemId.KIOSK)
    ]
    owners += [(SystemId.NWS, None), (SystemId.HUB, None)]
    desk_dir = review_key_dir or key_dir.parent / "desk"
    placed = [(system, city, key_dir) for system, city in owners]
    placed += [(SystemId.DESK, city, desk_dir) for city in cities]
    for system, city, folder in placed:
        try:
            keys_for(ring, folder, system, city)
            continue
        except ValueError:
            pass
        key = generate_key(system, city, valid_from=datetime.now(UTC) - timedelta(minutes=5))
        key.write(folder)
        entry = folder / f"{key.entry.key_id}.json"
        ring_dir.mkdir(parents=True, exist_ok=True)
        (ring_dir / entry.name).write_bytes(entry.read_bytes())
        made.append(key.entry.key_id)
    return made


def secret(key_dir: Path, name: str) -> bytes:
    """A system's own 32-byte secret `<name>.secret`, made on first use and kept (a city
    server's 符号 are drawn from it, the network's individual hashes keyed with it): never
    derived from a key that rotates."""
    path = key_dir / f"{name}.secret"
    _write_private(path, os.urandom(32).hex().encode())
    return bytes.fromhex(path.read_text().strip())


CARD_AUTHORITY_FILE = "card-authority.pem"
SHC_ISSUER_FILE = "shc-issuer.pem"


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


def _write_private(path: Path, pem: bytes) -> None:
    # Created 0600 and exclusively: a second process making the same key at the same
    # moment keeps the first one's.
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
