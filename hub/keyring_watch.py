"""The key ring while the hub runs: reread when its directory changes, or on SIGHUP.

Every `signing.ring_reload_seconds` (and at once on SIGHUP) each worker hashes the ring's
`*.json` files; when the hash differs from the ring in force, it loads the directory again
and, if every entry is valid, the new ring takes effect for the next batch: a revoked key is
refused from then on (`revoked_key`), an added key is accepted, a removed one is
`unknown_key`. A directory that does not load (a half-written file, a bad field) leaves the
ring in force as it is, and is logged once per change, naming the file and field; the next
change is tried again. Housekeeping writes each ring that took effect to the audit trail,
as it does the one the worker started with (hub/housekeeping.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

from contracts.keys import KeyRing, KeyRingError
from hub.retry import sleep_unless

__all__ = ["ring_fingerprint", "watch_key_ring"]

log = logging.getLogger("sesshu.hub.keys")


def ring_fingerprint(directory: Path) -> str:
    """SHA-256 over the names and contents of the ring's entries; "" if unreadable."""
    digest = hashlib.sha256()
    try:
        for path in sorted(directory.glob("*.json")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    except OSError:
        return ""
    return digest.hexdigest()


async def watch_key_ring(
    directory: Path,
    *,
    loaded: str,
    interval: float,
    apply: Callable[[KeyRing], None],
    stop: asyncio.Event,
    wake: asyncio.Event,
) -> None:
    """Until `stop`: call `apply(new ring)` whenever the directory holds another valid ring
    than the one in force (`loaded`: its fingerprint, taken before it was read). `wake`
    (set by SIGHUP) makes it look at once instead of at the next interval."""
    in_force = tried = loaded
    while not stop.is_set():
        await sleep_unless(stop, interval, wake)
        seen = ring_fingerprint(directory)
        if seen in (in_force, tried):
            continue
        tried = seen
        try:
            ring = KeyRing.load(directory)
        except (KeyRingError, ValueError, OSError) as exc:
            log.error("key ring not reloaded, the one in force stays: %s", exc)
            continue
        in_force = seen
        apply(ring)
        log.warning("key ring reloaded: %d keys, %d revoked", len(ring), _revoked(ring))


def _revoked(ring: KeyRing) -> int:
    return sum(entry.revoked for entry in ring)
