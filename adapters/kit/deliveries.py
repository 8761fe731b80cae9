"""How an adapter checks a delivery before any handler sees it: the original sender's
signature and the envelope's binding, against the key ring (`verified`), and the ring
read again from its directory when a delivery names a key not in it (`RingRereads`).

Only the hub publishes to an adapter's queue and it verified first, so a delivery that
fails here is tampering or a misconfigured ring (`bridge.Bridge` refuses it for good).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from contracts.envelope import Envelope
from contracts.keys import KeyRing, KeyRingError
from contracts.signing import Freshness, parse_and_verify
from contracts.wire import WireLimits

__all__ = ["DELIVERY_FRESHNESS", "RING_REREAD_SECONDS", "RingRereads", "verified"]

log = logging.getLogger("sesshu.adapters.bridge")

# The hub checked freshness when the message arrived; a delivery may wait in the adapter's
# queue for as long as the adapter is down, so here only signature and binding count.
DELIVERY_FRESHNESS = Freshness(max_age=timedelta(days=3650), max_future=timedelta(days=1))
# The least time between two rereads of the key ring on unknown keys (RingRereads).
RING_REREAD_SECONDS = 1.0


def verified(body: bytes, ring: KeyRing, limits: WireLimits) -> Envelope:
    """The delivered envelope, once its signature and binding check out against `ring`
    (VerificationError if not; UnknownKey, one of them, if it names a key not in it)."""
    envelope, _ = parse_and_verify(
        body, ring, now=datetime.now(UTC), freshness=DELIVERY_FRESHNESS, limits=limits
    )
    return envelope


@dataclass
class RingRereads:
    """The key ring read again from `directory` (where it came from) on an unknown key."""

    directory: Path | None
    consumer: str
    """Whose ring it is, for the log."""
    _read_at: float = field(default=float("-inf"), init=False, repr=False)

    def reread(self) -> KeyRing | None:
        """The ring as it is on the disk now; None without a directory, within
        `RING_REREAD_SECONDS` of the last read, or if it does not load."""
        # At most once a second: deliveries naming a key nobody has must not make the
        # adapter read the directory for each of them.
        moment = time.monotonic()
        if self.directory is None or moment - self._read_at < RING_REREAD_SECONDS:
            return None
        self._read_at = moment
        try:
            return KeyRing.load(self.directory)
        except KeyRingError as exc:
            log.error("%s could not reread the key ring: %s", self.consumer, exc)
            return None
