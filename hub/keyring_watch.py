"""The key ring while the hub runs: reread when its directory changes, or on SIGHUP.

Every `signing.ring_reload_seconds` (and at once on SIGHUP) each worker hashes the ring's
`*.json` files; when the hash differs from the ring in force, it loads the directory again
and, if every entry is valid, the new ring takes effect for the next batch: a revoked key is
refused from then on (`revoked_key`), an added key is accepted, a removed one is
`unknown_key`. A directory that does not load (a half-written file, a bad field) leaves the
ring in force as it is, and is logged once per change, naming the file and field; so does a
directory that holds no entry at all. A change is taken once the directory has held still
for SETTLE_SECONDS, so a ring copied in file by file is not applied half-way. Housekeeping
writes each ring that took effect to the audit trail, as it does the one the worker started
with (hub/housekeeping.py). The adapters reread theirs when a delivery names a key they do
not know yet (adapters/kit/deliveries.py), so a key the hub takes in is never one they drop.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

from contracts.keys import KeyRing, KeyRingError
from hub.retry import sleep_unless

__all__ = ["ring_fingerprint", "watch_key_ring"]

log = logging.getLogger("sesshu.hub.keys")


# A ring being copied in (rsync, `rm` then `cp`) is taken only once it holds still this long.
SETTLE_SECONDS = 1.0


def ring_fingerprint(directory: Path) -> str:
    """SHA-256 over the names and contents of the ring's entries; "" if unreadable."""
    digest = hashlib.sha256()
    try:
        for path in sorted(directory.glob("*.json")):
            digest.update(os.fsencode(path.name) + b"\0" + path.read_bytes() + b"\0")
    except (OSError, ValueError):
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
    (set by SIGHUP) makes it look at once instead of at the next interval. Nothing in the
    directory can end this task: whatever fails leaves the ring in force and is logged."""
    in_force, refused = loaded, ""
    while not stop.is_set():
        await sleep_unless(stop, interval, wake)
        seen = ring_fingerprint(directory)
        if seen == in_force:
            continue
        seen = await _settled(directory, seen, stop)
        try:
            ring = _load(directory)
        except Exception as exc:  # the promise above: a surprise here must not end the task
            if seen != refused:  # once per state of the directory, not every interval
                log.error("key ring not reloaded, the one in force stays: %s", _why(exc))
            refused = seen
            continue
        in_force = seen
        apply(ring)
        log.warning(
            "key ring reloaded in worker %d: %d keys, %d revoked",
            os.getpid(),
            len(ring),
            sum(entry.revoked for entry in ring),
        )


async def _settled(directory: Path, seen: str, stop: asyncio.Event) -> str:
    while not stop.is_set():
        await sleep_unless(stop, SETTLE_SECONDS)
        again = ring_fingerprint(directory)
        if again == seen:
            return seen
        seen = again
    return seen


def _load(directory: Path) -> KeyRing:
    ring = KeyRing.load(directory)
    if not len(ring):
        # Every message would be refused: a directory emptied, not a ring meant.
        raise KeyRingError("the directory holds no ring entry")
    return ring


def _why(exc: Exception) -> str:
    # KeyRingError names the file and the field (operator's files, no personal data).
    return str(exc) if isinstance(exc, KeyRingError) else type(exc).__name__
