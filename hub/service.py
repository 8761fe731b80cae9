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
from dataclasses import replace
from datetime import UTC, datetime

import uvloop

from contracts.broker import destinations
from contracts.keys import KeyRing
from contracts.wire import WireLimits
from hub.desk import open_desk
from hub.errors import DatabaseUnavailable
from hub.housekeeping import housekeep
from hub.keyring_watch import ring_fingerprint, watch_key_ring
from hub.pipeline import Triage
from hub.redriving import redrive_loop
from hub.settings import Settings
from hub.store.postgres import PgStore
from hub.telemetry import report_store
from hub.worker import Worker
from routing.decision import Context
from routing.policy import load_policy
from storekit.databases import ensure_database

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
    """Key ring, freshness window, policy and size limits as they are at start-up."""
    return Triage(
        ring=KeyRing.load(settings.signing.ring_dir),
        freshness=settings.signing.freshness(),
        policy=load_policy(settings.routing.directory()),
        context=Context(destinations=destinations(settings.hub.municipalities)),
        limits=WireLimits(max_bytes=settings.hub.max_message_bytes),
    )


async def run_worker(settings: Settings) -> int:
    """Run one worker until SIGTERM or SIGINT, then drain; the process exit code. SIGHUP
    rereads the key ring at once (it is also reread whenever it changes)."""
    stop, reload_keys, ring_changed = asyncio.Event(), asyncio.Event(), asyncio.Event()
    _on_signals(stop, reload_keys)
    loaded = ring_fingerprint(settings.signing.ring_dir)  # before reading: no change missed
    triage = build_triage(settings)
    store = await open_store(settings, stop)
    if store is None:
        return 0
    worker = Worker(settings, triage, store)

    def new_ring(ring: KeyRing) -> None:
        worker.triage = replace(worker.triage, ring=ring)
        ring_changed.set()

    jobs = [
        asyncio.create_task(housekeep(settings, lambda: worker.triage, stop, ring_changed)),
        asyncio.create_task(redrive_loop(settings, lambda: worker.triage, stop)),
        asyncio.create_task(report_store(store, stop, settings.telemetry.gauge_interval_seconds)),
        asyncio.create_task(
            watch_key_ring(
                settings.signing.ring_dir,
                loaded=loaded,
                interval=settings.signing.ring_reload_seconds,
                apply=new_ring,
                stop=stop,
                wake=reload_keys,
            )
        ),
    ]
    started = datetime.now(UTC)
    try:
        await worker.run(stop)
    finally:
        stop.set()
        await asyncio.gather(*jobs)
        await store.close()
    _log_stopped(worker, started)
    return 0


def _on_signals(stop: asyncio.Event, reload_keys: asyncio.Event) -> None:
    """SIGTERM and SIGINT stop the worker (it drains); SIGHUP rereads the key ring."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reload_keys.set)


def _log_stopped(worker: Worker, started: datetime) -> None:
    stats = worker.stats
    log.info(
        "worker %d stopped after %.0f s: %d received, %d duplicates, %d rejected",
        os.getpid(),
        (datetime.now(UTC) - started).total_seconds(),
        stats.received,
        stats.duplicates,
        stats.rejected,
    )


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


def supervise(workers: int, argv_for_worker: list[str], metrics_port: int | None = None) -> int:
    """Run `workers` worker processes; restart any that dies; SIGTERM drains them all.
    With `metrics_port`, worker i serves its `/metrics` on metrics_port + i."""
    stopping = False

    def _stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    def _reload(signum: int, _frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGHUP)

    envs = [_worker_env(metrics_port, index) for index in range(workers)]
    children = [_spawn(argv_for_worker, env) for env in envs]
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGHUP, _reload)
    while not stopping:
        time.sleep(0.5)
        for index, child in enumerate(children):
            code = child.poll()
            if code is not None and not stopping:
                log.error("worker %d exited with %d; restarting", child.pid, code)
                children[index] = _spawn(argv_for_worker, envs[index])
    return max((child.wait() for child in children), default=0)


def _worker_env(metrics_port: int | None, index: int) -> dict[str, str]:
    if metrics_port is None:
        return dict(os.environ)
    return os.environ | {"SESSHU_TELEMETRY__METRICS_PORT": str(metrics_port + index)}


def _spawn(argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "hub", *argv], env=env)  # noqa: S603
