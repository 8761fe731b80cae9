"""What the tests look at while the services run: waiting for a condition, queue depths
and unacked counts, what the journal holds, what reached the adapter queues."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg

from contracts.broker import ADAPTER_SYSTEMS, INGRESS_QUEUE, adapter_queue
from contracts.envelope import Envelope
from tests.harness import CHIKUSEI, YUKI, Services
from tests.traffic import publish


async def wait_for(predicate: Callable[[], Awaitable[bool]], seconds: float, what: str) -> None:
    """Poll `predicate` until it holds; fail naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")


async def queue_depths(url: str, names: Sequence[str]) -> dict[str, int]:
    """Messages ready in each queue (passive declare)."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        depths = {}
        for name in names:
            queue = await channel.declare_queue(name, passive=True)
            depths[name] = queue.declaration_result.message_count or 0
        return depths
    finally:
        await connection.close()


async def consumers(url: str, name: str) -> int:
    """How many consumers a queue has (passive declare): a hub worker consumes ingress
    once it has started, signal handlers installed and its key ring read."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(name, passive=True)
        return queue.declaration_result.consumer_count or 0
    finally:
        await connection.close()


async def drain_queue(url: str, name: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Consume and ack everything ready in a queue now."""
    connection = await aio_pika.connect(url)
    messages = []
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(name, passive=True)
        while (message := await queue.get(fail=False)) is not None:
            await message.ack()
            messages.append(message)
        return messages
    finally:
        await connection.close()


def unacked(vhost: str, queue: str) -> tuple[int, int]:
    """(ready, unacknowledged) messages of a queue, as RabbitMQ counts them."""
    result = subprocess.run(
        [
            "rabbitmqctl",
            "-q",
            "list_queues",
            "-p",
            vhost,
            "name",
            "messages_ready",
            "messages_unacknowledged",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    for line in result.stdout.splitlines():
        parts = line.split()
        if parts and parts[0] == queue:
            return int(parts[1]), int(parts[2])
    raise AssertionError(f"queue {queue} not found in vhost {vhost}")


ADAPTER_QUEUES = [adapter_queue(s, m) for s in ADAPTER_SYSTEMS for m in (CHIKUSEI, YUKI)]


async def fetchval(services: Services, sql: str, *args: Any) -> Any:
    """One value from the test's database."""
    connection = await asyncpg.connect(services.database_url)
    try:
        return await connection.fetchval(sql, *args)
    finally:
        await connection.close()


async def journaled(services: Services) -> int:
    """Journal rows so far (0 before the hub has migrated)."""
    try:
        return int(await fetchval(services, "SELECT count(*) FROM journal"))
    except asyncpg.UndefinedTableError:
        return 0


async def settled(services: Services, journal_rows: int) -> bool:
    """Every message journaled and every outbox row confirmed by the broker."""
    if await journaled(services) < journal_rows:
        return False
    return (
        int(await fetchval(services, "SELECT count(*) FROM outbox WHERE published_at IS NULL")) == 0
    )


async def topology_ready(services: Services) -> bool:
    """True once the hub has declared its queues, the adapters' last (adapters may only
    consume a queue that is there: they declare nothing, stack.broker_users)."""
    try:
        await queue_depths(services.amqp_url, [INGRESS_QUEUE, *ADAPTER_QUEUES])
    except Exception:  # not declared yet: any refusal means "not yet"
        return False
    return True


async def delivered(services: Services) -> dict[str, list[str]]:
    """Message ids now ready in each adapter queue (consumed and acked)."""
    return {
        name: [m.message_id or "" for m in await drain_queue(services.amqp_url, name)]
        for name in ADAPTER_QUEUES
    }


async def held(services: Services, envelope: Envelope) -> None:
    await publish(services.amqp_url, [envelope.to_bytes()], routing_key=envelope.kind)

    async def stored() -> bool:
        return bool(
            await fetchval(
                services, "SELECT count(*) FROM held_messages WHERE message_id = $1", envelope.id
            )
        )

    await wait_for(stored, 30, "the message to be held")


async def published(services: Services) -> bool:
    return not await fetchval(services, "SELECT count(*) FROM outbox WHERE published_at IS NULL")


def pg_dump_binary() -> str:
    """`pg_dump` on the PATH, else the newest of the server packages'."""
    found = shutil.which("pg_dump")
    if found:
        return found
    versions = Path("/usr/lib/postgresql").glob("*/bin/pg_dump")
    return str(max(versions, key=lambda p: int(p.parts[-3])))


async def pg_dump(dsn: str) -> str:
    """The whole database as `pg_dump` writes it (schema and data, plain SQL)."""
    binary = await asyncio.to_thread(pg_dump_binary)
    process = await asyncio.create_subprocess_exec(
        binary,
        "--no-owner",
        "--dbname",
        dsn,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode(errors="replace")
    return out.decode()
