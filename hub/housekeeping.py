"""The hub's background jobs beside each worker: audit what it runs with (policy and key
ring, when they changed, at start and whenever the ring is reloaded), expire held messages
past their time, seal the journal into the audit log and sign the audit log's head, and
prune what is past its retention (every SESSHU_RETENTION__INTERVAL_SECONDS, audited with
its counts). Every job is safe to run in every worker process at once (row locks with SKIP
LOCKED, the audit append lock, the prune lock)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from contracts.canonical import canonical_bytes
from hub.desk import Desk, open_desk
from hub.errors import DatabaseUnavailable
from hub.pipeline import Triage
from hub.retention import Periods
from hub.retry import sleep_unless
from hub.settings import Settings

__all__ = ["housekeep", "key_ring_detail"]

log = logging.getLogger("sesshu.housekeeping")


def key_ring_detail(triage: Triage) -> dict[str, object]:
    """What the audit log keeps of a key ring: each key id with its entry's fingerprint."""
    return {
        "keys": {
            entry.key_id: hashlib.sha256(
                canonical_bytes(entry.model_dump(mode="json"))
            ).hexdigest()[:16]
            for entry in sorted(triage.ring, key=lambda e: e.key_id)
        }
    }


async def housekeep(
    settings: Settings,
    current: Callable[[], Triage],
    stop: asyncio.Event,
    ring_changed: asyncio.Event | None = None,
) -> None:
    """Run the jobs until `stop` is set; `current()` is the triage in force, and setting
    `ring_changed` audits its key ring at once. A database outage only delays the jobs, and
    no failure of a job stops the others or the worker beside them."""
    desk: Desk | None = None
    started = _Started()
    ring_changed = ring_changed or asyncio.Event()
    can_sign = settings.signing.hub_key_file is not None
    if not can_sign:
        log.warning("no hub signing key: held messages will not expire, checkpoints not signed")
    interval = settings.desk.expiry_interval_seconds
    every = max(1, round(settings.desk.checkpoint_interval_seconds / interval))
    tick, prune_at = 0, 0.0
    try:
        while not stop.is_set():
            try:
                desk = desk or await open_desk(settings, pool_size=1)
                await started.audit(desk, current())
                if can_sign:
                    await _jobs(settings, desk, seal=tick % every == 0)
                if time.monotonic() >= prune_at:  # a failed prune is tried again next tick
                    await _prune(settings, desk, current())
                    prune_at = time.monotonic() + settings.retention.interval_seconds
            except DatabaseUnavailable:
                log.warning("housekeeping: PostgreSQL unavailable; retrying")
            except Exception as exc:  # a job's bug must not stop the worker beside it
                log.error("housekeeping: %s; retrying", type(exc).__name__)
            tick += 1
            await sleep_unless(stop, interval, ring_changed)
    finally:
        if desk is not None:
            await desk.store.close()


@dataclass
class _Started:
    """What this process has audited of what it runs with."""

    policy: bool = False
    ring: dict[str, object] | None = None

    async def audit(self, desk: Desk, triage: Triage) -> None:
        """Audit the policy once (and give old held rows their department), and the key
        ring whenever it is not the one audited last."""
        if not self.policy:
            await desk.record_change("policy.loaded", {"version": triage.policy.version})
            await desk.backfill_departments(triage.policy, triage.context)
            self.policy = True
        ring = key_ring_detail(triage)
        if ring != self.ring:
            await desk.record_change("keys.loaded", ring)
            self.ring = ring


async def _jobs(settings: Settings, desk: Desk, *, seal: bool) -> None:
    expired = await desk.expire_due()
    if expired:
        log.info("expired %d held message(s)", expired)
    if seal:
        await desk.seal_journal(settings.desk.journal_seal_lag_seconds)
        await desk.checkpoint()


async def _prune(settings: Settings, desk: Desk, triage: Triage) -> None:
    """Retention under the policy in force; counts only in the log (the audit row has
    them too)."""
    pruned = await desk.prune(Periods.of(triage.policy, settings), batch=settings.retention.batch)
    if pruned:
        log.info(
            "retention: removed %s",
            ", ".join(f"{p.count} {p.what} {p.unit}" for p in pruned),
        )
