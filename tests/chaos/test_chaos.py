"""Nothing lost, nothing doubled: 20,000 messages while workers die and services restart.

Each test streams signed messages into the hub while something fails, then checks at the
adapters (FastStream bridges deduping in PostgreSQL) that every accepted message was
processed exactly once: none missing, none twice.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import asyncpg
import pytest
from faststream.rabbit import RabbitBroker

from adapters.kit import Bridge, make_broker
from adapters.ports import InboxTransaction
from adapters.store.db import AdapterDb
from contracts.broker import adapter_queue
from contracts.codes import SystemId
from contracts.envelope import Envelope
from tests.harness import CHIKUSEI, YUKI, HubProcess, Services, restart_postgres, restart_rabbitmq
from tests.probes import journaled, queue_depths, wait_for
from tests.traffic import publish, signed_traffic

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

# Enough that every failure below lands mid-stream (each test asserts it does), and no more:
# the three streams are the longest tests of the suite.
MESSAGES = int(os.environ.get("SESSHU_CHAOS_MESSAGES", "8000"))
DESTINATIONS = (
    (SystemId.VRS, CHIKUSEI),
    (SystemId.VRS, YUKI),
    (SystemId.HEALTH_MGMT, CHIKUSEI),
    (SystemId.HEALTH_MGMT, YUKI),
)


@asynccontextmanager
async def adapters(services: Services) -> AsyncIterator[RabbitBroker]:
    """The four destination adapters, each recording one effect per message it processes."""
    store = await AdapterDb.open(services.adapters_database_url, size=4)
    broker = make_broker(services.amqp_url)
    ring = services.ring()

    async def record(envelope: Envelope, transaction: InboxTransaction) -> None:
        await transaction.record_effect(envelope.kind)

    for system, municipality in DESTINATIONS:
        Bridge(
            broker,
            system,
            municipality,
            services.signer(SystemId.HEALTH_MGMT, CHIKUSEI),
            ring,
            store,
            sealing_keys=services.sealing_keys,
        ).subscribe(record)
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()
        await store.close()


async def effects(services: Services) -> tuple[int, int]:
    """(effects recorded, distinct messages) at the adapters; (0, 0) while unreachable."""
    try:
        connection = await asyncpg.connect(services.adapters_database_url, timeout=5)
    except (OSError, asyncpg.PostgresError):
        return 0, 0
    try:
        row = await connection.fetchrow(
            "SELECT count(*) AS n, count(DISTINCT message_id) AS d FROM adapter_effects"
        )
        return (int(row["n"]), int(row["d"])) if row else (0, 0)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return 0, 0
    finally:
        await connection.close()


async def adapter_queues_declared(hub: HubProcess) -> bool:
    """True once the hub has declared the queues of every destination adapter; a hub that
    exited will not: fail with its log rather than wait."""
    assert hub.process is not None
    if hub.process.poll() is not None:
        raise AssertionError(f"the hub exited with {hub.process.returncode}:\n{hub.log()}")
    services = hub.services
    names = [adapter_queue(system, municipality) for system, municipality in DESTINATIONS]
    try:
        await queue_depths(services.amqp_url, names)
    except Exception:  # not declared yet (or the broker not up): any refusal means "not yet"
        return False
    return True


async def all_processed(services: Services) -> bool:
    return (await effects(services))[1] >= MESSAGES


async def run_with_failure(
    services: Services, failure: Callable[[HubProcess], Awaitable[HubProcess]]
) -> HubProcess:
    """Stream MESSAGES signed messages while `failure` runs; return the (running) hub."""
    hub = HubProcess(services).start()
    # The hub declares the topology; the adapters need their queues to exist. The traffic
    # is signed meanwhile (a couple of seconds for 20,000).
    traffic, _ = await asyncio.gather(
        asyncio.to_thread(signed_traffic, services, MESSAGES),
        wait_for(lambda: adapter_queues_declared(hub), 60, "the hub's topology"),
    )
    async with adapters(services):
        hub, _ = await asyncio.gather(
            failure(hub), publish(services.amqp_url, [body for _, body in traffic])
        )
        await wait_for(lambda: all_processed(services), 300, f"{MESSAGES} messages at the adapters")
        await asyncio.sleep(2)  # let any late redelivery arrive before counting
        recorded, distinct = await effects(services)
    expected = {message_id for message_id, _ in traffic}
    connection = await asyncpg.connect(services.database_url)
    adapters_db = await asyncpg.connect(services.adapters_database_url)
    try:
        seen = {
            str(r["message_id"])
            for r in await adapters_db.fetch("SELECT message_id FROM adapter_effects")
        }
        journal = await connection.fetchval(
            "SELECT count(*) FROM journal WHERE decision = 'deliver'"
        )
    finally:
        await connection.close()
        await adapters_db.close()
    assert seen == expected, f"{len(expected - seen)} missing"
    assert distinct == MESSAGES
    assert recorded == MESSAGES, f"{recorded - MESSAGES} processed twice"
    assert journal == MESSAGES
    return hub


async def test_sigkill_a_worker_five_times(services: Services) -> None:
    rng = random.Random(os.environ.get("SESSHU_CHAOS_SEED", "sesshu"))

    journaled_at_kill: list[int] = []

    async def kill_five_times(hub: HubProcess) -> HubProcess:
        for _ in range(5):
            await asyncio.sleep(rng.uniform(0.5, 2.5))
            hub.kill()
            journaled_at_kill.append(await journaled(services))
            hub = HubProcess(services).start()
        return hub

    hub = await run_with_failure(services, kill_five_times)
    assert hub.stop() == 0, hub.log()
    # The kills landed mid-stream, not before the first or after the last message.
    assert sum(0 < n < MESSAGES for n in journaled_at_kill) >= 3, journaled_at_kill


async def test_a_rabbitmq_restart_mid_stream(services: Services) -> None:
    journaled_at_restart: list[int] = []

    async def restart(hub: HubProcess) -> HubProcess:
        await asyncio.sleep(3)
        journaled_at_restart.append(await journaled(services))
        await asyncio.to_thread(restart_rabbitmq)
        return hub

    hub = await run_with_failure(services, restart)
    assert hub.stop() == 0, hub.log()
    assert all(0 < n < MESSAGES for n in journaled_at_restart), journaled_at_restart


async def test_postgresql_restarts_mid_stream(services: Services) -> None:
    # Twice: the second restart meets connections the pool got back after the first.
    journaled_at_restart: list[int] = []

    async def restart(hub: HubProcess) -> HubProcess:
        for pause in (3, 4):
            await asyncio.sleep(pause)
            journaled_at_restart.append(await journaled(services))
            await asyncio.to_thread(restart_postgres)
        return hub

    hub = await run_with_failure(services, restart)
    assert hub.stop() == 0, hub.log()
    # Both restarts landed mid-stream, not before the first message or after the last.
    assert all(0 < n < MESSAGES for n in journaled_at_restart), journaled_at_restart
