"""The hub's background jobs beside each worker: audit what it starts with (policy and
key ring, when they changed), expire held messages past their time, seal the journal into
the audit log and sign the audit log's head. Every job is safe to run in every worker
process at once (row locks with SKIP LOCKED, the audit append lock)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging

from contracts.canonical import canonical_bytes
from hub.desk import Desk, open_desk
from hub.errors import DatabaseUnavailable
from hub.pipeline import Triage
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


async def housekeep(settings: Settings, triage: Triage, stop: asyncio.Event) -> None:
    """Run the jobs until `stop` is set. A database outage only delays them, and no failure
    of a job stops the others or the worker beside them."""
    desk: Desk | None = None
    recorded = False
    can_sign = settings.signing.hub_key_file is not None
    if not can_sign:
        log.warning("no hub signing key: held messages will not expire, checkpoints not signed")
    interval = settings.desk.expiry_interval_seconds
    every = max(1, round(settings.desk.checkpoint_interval_seconds / interval))
    tick = 0
    try:
        while not stop.is_set():
            try:
                desk = desk or await open_desk(settings, pool_size=1)
                if not recorded:
                    await desk.record_change("policy.loaded", {"version": triage.policy.version})
                    await desk.record_change("keys.loaded", key_ring_detail(triage))
                    await desk.backfill_departments(triage.policy, triage.context)
                    recorded = True
                if can_sign:
                    await _jobs(settings, desk, seal=tick % every == 0)
            except DatabaseUnavailable:
                log.warning("housekeeping: PostgreSQL unavailable; retrying")
            except Exception as exc:  # a job's bug must not stop the worker beside it
                log.error("housekeeping: %s; retrying", type(exc).__name__)
            tick += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
    finally:
        if desk is not None:
            await desk.store.close()


async def _jobs(settings: Settings, desk: Desk, *, seal: bool) -> None:
    expired = await desk.expire_due()
    if expired:
        log.info("expired %d held message(s)", expired)
    if seal:
        await desk.seal_journal(settings.desk.journal_seal_lag_seconds)
        await desk.checkpoint()
