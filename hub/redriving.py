"""The hub's side of re-drives beside each worker: every SESSHU_DESK__REDRIVE_INTERVAL_SECONDS,
take up what operators confirmed at the desk and triage it again under the key ring and
policy the worker runs with (hub/redrive.py says why). Safe in every worker at once: each
re-drive row is locked by the one taking it, and the others skip it."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable

from hub.desk import Desk, open_desk
from hub.errors import DatabaseUnavailable
from hub.pipeline import Triage
from hub.retry import sleep_unless
from hub.settings import Settings

__all__ = ["redrive_loop"]

log = logging.getLogger("sesshu.redrive")


async def redrive_loop(
    settings: Settings, current: Callable[[], Triage], stop: asyncio.Event
) -> None:
    """Carry out pending re-drives until `stop` is set; `current()` is the triage in force.
    A database outage only delays them, and no failure stops the worker beside."""
    desk: Desk | None = None
    try:
        while not stop.is_set():
            try:
                desk = desk or await open_desk(settings, pool_size=1)
                done = await desk.run_redrives(
                    current(), hold_seconds=settings.hub.hold_expiry_seconds
                )
                if done:
                    counts = Counter(outcome.state.value for outcome in done)
                    log.info("re-drives: %s", ", ".join(f"{n} {s}" for s, n in counts.items()))
            except DatabaseUnavailable:
                log.warning("re-drives: PostgreSQL unavailable; retrying")
            except Exception as exc:  # a bug here must not stop the worker beside it
                log.error("re-drives: %s; retrying", type(exc).__name__)
            await sleep_unless(stop, settings.desk.redrive_interval_seconds)
    finally:
        if desk is not None:
            await desk.store.close()
