"""The hub process: SIGTERM drains, several workers compete, a database outage pauses it."""

from __future__ import annotations

import asyncio
import os
import signal

import asyncpg
import pytest

from contracts.broker import INGRESS_QUEUE
from tests.harness import HubProcess, Services, children_of, start_postgres, stop_postgres
from tests.probes import delivered, fetchval, settled, topology_ready, unacked, wait_for
from tests.traffic import publish, signed_traffic

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


async def unpublished(services: Services) -> int:
    return int(await fetchval(services, "SELECT count(*) FROM outbox WHERE published_at IS NULL"))


async def test_sigterm_finishes_the_batch_flushes_the_outbox_and_exits_0(
    services: Services,
) -> None:
    traffic = signed_traffic(services, 5_000)
    hub = HubProcess(services, extra_env={"SESSHU_HUB__OUTBOX_CLAIM_SECONDS": "60"}).start()
    await wait_for(lambda: topology_ready(services), 30, "the hub's topology")
    publishing = asyncio.ensure_future(publish(services.amqp_url, [b for _, b in traffic]))  # noqa: RUF006 - awaited below
    await wait_for(lambda: _journaled_some(services), 60, "the hub to start journaling")
    hub.signal(signal.SIGTERM)
    assert await asyncio.to_thread(hub.wait, 60) == 0, hub.log()
    # Everything the drained worker journaled was published before it exited.
    assert await unpublished(services) == 0
    await publishing
    # Within the documented rule (claim above the publish timeout): with the harness's 2 s
    # claim a slow burst's confirms came after the claim and the relay sent a batch again.
    second = HubProcess(services, extra_env={"SESSHU_HUB__OUTBOX_CLAIM_SECONDS": "15"}).start()
    try:
        await wait_for(lambda: settled(services, 5_000), 120, "the rest, by a new worker")
        ids = [i for queue_ids in (await delivered(services)).values() for i in queue_ids]
        assert sorted(ids) == sorted(message_id for message_id, _ in traffic)
    finally:
        assert second.stop() == 0, second.log()


async def _journaled_some(services: Services) -> bool:
    try:
        return int(await fetchval(services, "SELECT count(*) FROM journal")) > 0
    except asyncpg.UndefinedTableError:
        return False


async def test_several_workers_compete_and_a_dead_one_is_replaced(services: Services) -> None:
    traffic = signed_traffic(services, 4_000)
    # A claim longer than the publish timeout, as documented: exactly-once delivery here
    # must not hang on a burst's confirms beating a 2 s claim (see test_pipeline).
    hub = HubProcess(
        services, workers=2, extra_env={"SESSHU_HUB__OUTBOX_CLAIM_SECONDS": "15"}
    ).start()
    assert hub.process is not None
    try:
        await wait_for(lambda: topology_ready(services), 30, "the hub's topology")
        await wait_for(lambda: _has_children(hub.process.pid, 2), 30, "two worker processes")  # type: ignore[union-attr]
        first, _ = children_of(hub.process.pid)
        os.kill(first, signal.SIGKILL)
        await wait_for(lambda: _replaced(hub.process.pid, first), 30, "the dead worker replaced")  # type: ignore[union-attr]
        await publish(services.amqp_url, [b for _, b in traffic])
        await wait_for(lambda: settled(services, 4_000), 120, "4,000 messages by two workers")
        ids = [i for queue_ids in (await delivered(services)).values() for i in queue_ids]
        assert sorted(ids) == sorted(message_id for message_id, _ in traffic)
        consumers = await fetchval(services, "SELECT count(DISTINCT sender_instance) FROM journal")
        assert consumers >= 1
    finally:
        assert hub.stop() == 0, hub.log()
    assert children_of(hub.process.pid) == []


async def _has_children(pid: int, count: int) -> bool:
    return len(children_of(pid)) == count


async def _replaced(pid: int, dead: int) -> bool:
    now = children_of(pid)
    return len(now) == 2 and dead not in now


async def test_a_database_outage_pauses_consumption_and_nothing_is_acked(
    services: Services,
) -> None:
    traffic = signed_traffic(services, 300)
    hub = HubProcess(services).start()
    try:
        await wait_for(lambda: topology_ready(services), 30, "the hub's topology")
        await asyncio.to_thread(stop_postgres)
        try:
            await publish(services.amqp_url, [b for _, b in traffic])
            await asyncio.sleep(6)  # well past the retry budget: the worker has paused
            ready, unacknowledged = await asyncio.to_thread(unacked, services.vhost, INGRESS_QUEUE)
            assert ready + unacknowledged == 300
            assert hub.process is not None
            assert hub.process.poll() is None, hub.log()
        finally:
            await asyncio.to_thread(start_postgres)
        await wait_for(
            lambda: settled(services, 300), 120, "the paused batch after PostgreSQL returns"
        )

        async def all_acked() -> bool:
            # RabbitMQ refreshes these counters every few seconds.
            return await asyncio.to_thread(unacked, services.vhost, INGRESS_QUEUE) == (0, 0)

        await wait_for(all_acked, 30, "every paused message acked")
        ids = [i for queue_ids in (await delivered(services)).values() for i in queue_ids]
        assert sorted(ids) == sorted(message_id for message_id, _ in traffic)
        assert "consumption paused" in hub.log()
    finally:
        assert hub.stop() == 0, hub.log()
