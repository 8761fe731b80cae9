"""Running the hub: one worker in this process, or a supervisor of N worker processes."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import uvloop

from contracts.broker import destinations
from contracts.keys import KeyRing
from hub.desk import open_desk
from hub.errors import DatabaseUnavailable
from hub.housekeeping import housekeep
from hub.pipeline import Triage
from hub.settings import Settings
from hub.store.postgres import PgStore, ensure_database
from hub.worker import Worker
from routing.decision import Context
from routing.policy import load_policy

__all__ = ["open_desk", "open_store", "run_worker", "supervise"]

log = logging.getLogger("sesshu.hub")


async def open_store(settings: Settings, stop: asyncio.Event | None = None) -> PgStore | None:
    """Connect, creating the database and applying migrations; wait while it is away."""
    dsn = settings.database.url.get_secret_value()
    while stop is None or not stop.is_set():
        try:
            await ensure_database(dsn)
            store = await PgStore.connect(
                dsn,
                size=settings.database.pool_size,
                command_timeout=settings.database.command_timeout_seconds,
                claim_seconds=settings.hub.outbox_claim_seconds,
                hold_seconds=settings.hub.hold_expiry_seconds,
            )
            await store.migrate()
            return store
        except DatabaseUnavailable:
            if stop is None:
                raise
            log.warning("PostgreSQL unavailable at start; retrying")
            await asyncio.sleep(settings.hub.retry_max_wait_seconds)
    return None


def build_triage(settings: Settings) -> Triage:
    """Key ring, freshness window and policy, loaded once at start-up."""
    return Triage(
        ring=KeyRing.load(settings.signing.ring_dir),
        freshness=settings.signing.freshness(),
        policy=load_policy(settings.routing.directory()),
        context=Context(destinations=destinations(settings.hub.municipalities)),
    )


async def run_worker(settings: Settings) -> int:
    """Run one worker until SIGTERM or SIGINT, then drain; the process exit code."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    triage = build_triage(settings)
    store = await open_store(settings, stop)
    if store is None:
        return 0
    worker = Worker(settings, triage, store)
    jobs = asyncio.create_task(housekeep(settings, triage, stop))
    started = datetime.now(UTC)
    try:
        await worker.run(stop)
    finally:
        stop.set()
        await jobs
        await store.close()
    stats = worker.stats
    log.info(
        "worker %d stopped after %.0f s: %d received, %d duplicates, %d rejected",
        os.getpid(),
        (datetime.now(UTC) - started).total_seconds(),
        stats.received,
        stats.duplicates,
        stats.rejected,
    )
    return 0


def run_worker_process(settings: Settings) -> int:
    """Run one worker on uvloop, with the garbage collector tuned for a long-lived server."""
    # Objects alive at start-up (modules, the key ring, pydantic schemas) never become
    # garbage: freezing them keeps every full collection from walking them again. The
    # thresholds stay at their defaults on purpose: the AMQP client leaves about 30
    # objects in reference cycles per message, and a high first threshold turned that
    # into a 15-30 ms collection every 3 s at 500 msg/s (measured with gc.callbacks).
    gc.collect()
    gc.freeze()
    return uvloop.run(run_worker(settings))


def supervise(workers: int, argv_for_worker: list[str]) -> int:
    """Run `workers` worker processes; restart any that dies; SIGTERM drains them all."""
    stopping = False

    def _stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    children = [_spawn(argv_for_worker) for _ in range(workers)]
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    while not stopping:
        time.sleep(0.5)
        for index, child in enumerate(children):
            code = child.poll()
            if code is not None and not stopping:
                log.error("worker %d exited with %d; restarting", child.pid, code)
                children[index] = _spawn(argv_for_worker)
    return max((child.wait() for child in children), default=0)


def _spawn(argv: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "hub", *argv])  # noqa: S603 - our own CLI
