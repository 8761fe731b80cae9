"""The live half of `sesshu demo`: the same envelopes through a real hub worker.

Runs a worker in this process against the local RabbitMQ (its own vhost `sesshu_demo` where
`rabbitmqctl` is at hand) and a `sesshu_demo` database (`stack.provision.Place`), publishes
every example kind and the forgeries with confirms, and shows what the journal decided
and what each adapter queue received.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable

import aio_pika
from pydantic import SecretStr

from contracts.broker import DEAD_QUEUE, INGRESS_EXCHANGE, adapter_queue, destinations
from contracts.signing import Signer
from hub.approvals import Role
from hub.desk import Desk, Terminal
from hub.desk.review import ReviewKeys
from hub.pipeline import Triage
from hub.service import open_store
from hub.settings import Settings
from hub.store.desk import PgDesk
from hub.store.postgres import PgStore
from hub.worker import Worker
from stack.provision import Place

__all__ = ["DEMO_NAME", "demo_settings", "through_the_hub"]

# The vhost and the database (made fresh each run, and kept afterwards to look at).
DEMO_NAME = "sesshu_demo"
DEMO_TERMINAL = Terminal("demo", "sesshu demo")
CHIKUSEI = "082279"


def demo_settings(base: Settings, name: str = DEMO_NAME) -> Settings:
    """The operator's settings, pointed at the demo's own vhost and database."""
    place = _place(base, name)
    return base.model_copy(
        update={
            "amqp": base.amqp.model_copy(update={"url": SecretStr(place.amqp_url)}),
            "database": base.database.model_copy(update={"url": SecretStr(place.database_url)}),
        }
    )


def _place(settings: Settings, name: str = DEMO_NAME) -> Place:
    return Place(
        name, settings.amqp.url.get_secret_value(), settings.database.url.get_secret_value()
    )


async def through_the_hub(
    settings: Settings,
    triage: Triage,
    bodies: list[tuple[str, bytes]],
    echo: Callable[[str], None],
    hub_signer: Signer,
    *,
    review_keys: ReviewKeys,
) -> int:
    """Send `(label, wire bytes)` through a live worker, then approve what it held (its
    review copies opened with the desk's `review_keys`); return the number of surprises."""
    await _place(settings).make(fresh=True)
    store = await open_store(settings)
    if store is None:  # pragma: no cover - only with a stop event
        return 1
    stop = asyncio.Event()
    worker = Worker(settings, triage, store)
    running = asyncio.create_task(worker.run(stop))
    try:
        url = settings.amqp.url.get_secret_value()
        await _publish(url, [body for _, body in bodies])
        await _until_settled(store, len(bodies))
        await _report(settings, store, echo)
        surprises = await _approve(settings, store, triage, (hub_signer, review_keys), echo)
    finally:
        stop.set()
        await running
        await store.close()
    stats = worker.stats
    echo(
        f"  worker drained: {stats.received} received, {stats.delivered} delivered, "
        f"{stats.held} held, {stats.rejected} rejected, {stats.duplicates} duplicates"
    )
    return surprises + (0 if stats.received == len(bodies) else 1)


APPROVER = "kacho-082279"
TERMINALS = ("127.0.0.1/32", "::1/128")  # this machine (R26/R27); it acts as the account


async def _approve(
    settings: Settings,
    store: PgStore,
    triage: Triage,
    keys: tuple[Signer, ReviewKeys],
    echo: Callable[[str], None],
) -> int:
    """A 所属長 of Chikusei approves what was held; the release goes out through the outbox
    with the hub's attestation, and the audit trail verifies."""
    dsn = settings.database.url.get_secret_value()
    signer, review_keys = keys
    desk = Desk(
        await PgDesk.connect(dsn, size=1),
        signer,
        policy_version=triage.policy.version,
        review_keys=review_keys,
    )
    try:
        await desk.add_staff(
            APPROVER,
            roles=[Role.APPROVER],
            municipality=CHIKUSEI,
            department="health-promotion",
            password=secrets.token_urlsafe(18),
            terminals=TERMINALS,
            actor="demo",
        )
        account = await desk.account(APPROVER)
        journal_rows = await store.journal_count()
        released = 0
        for held in await store.held(CHIKUSEI):
            await desk.approve(
                account, held.message_id, terminal=DEMO_TERMINAL, comment="内容確認済み"
            )
            released += 1
            echo(f"  approved by {APPROVER}: {held.message_id} released, attested by the hub")
        await _until_settled(store, journal_rows + released)
        count, finding = await desk.verify(triage.ring)
        await desk.checkpoint()
    finally:
        await desk.store.close()
    echo(f"  audit trail: {count} rows, " + ("chain intact" if finding is None else str(finding)))
    return 0 if finding is None and released == 1 else 1


async def _publish(url: str, bodies: list[bytes]) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(on_return_raises=True)
        for _ in range(100):  # the worker declares the topology as it starts
            try:
                exchange = await channel.get_exchange(INGRESS_EXCHANGE)
                break
            except aio_pika.exceptions.ChannelClosed:
                channel = await connection.channel(on_return_raises=True)
                await asyncio.sleep(0.1)
        await asyncio.gather(
            *(
                exchange.publish(aio_pika.Message(b, delivery_mode=2), routing_key=_kind(b))
                for b in bodies
            )
        )


def _kind(body: bytes) -> str:
    # The routing key on the ingress exchange is the envelope's kind (contracts/README.md);
    # the forgeries the demo sends keep theirs.
    kind = json.loads(body).get("kind")
    return kind if isinstance(kind, str) else "unknown"


async def _until_settled(store: PgStore, count: int) -> None:
    for _ in range(300):
        unpublished, _ = await store.outbox_lag()
        if await store.journal_count() >= count and unpublished == 0:
            return
        await asyncio.sleep(0.1)


async def _report(settings: Settings, store: PgStore, echo: Callable[[str], None]) -> None:
    echo("  journal:")
    for decision, reason, count in await store.journal_summary():
        echo(f"    {decision:<8} {reason:<24} {count:>4}")
    for municipality in settings.hub.municipalities:
        for held in await store.held(municipality):
            echo(
                f"  held for approval in {municipality}: {held.message_id} "
                f"({held.reason_code}, until {held.expires_at:%Y-%m-%d %H:%M} UTC)"
            )
    depths = await _depths(settings.amqp.url.get_secret_value(), settings.hub.municipalities)
    echo("  queues:")
    for name, depth in depths.items():
        if depth:
            echo(f"    {name:<30} {depth:>4}")


async def _depths(url: str, municipalities: tuple[str, ...]) -> dict[str, int]:
    names = sorted(adapter_queue(*key.split(".")) for key in destinations(municipalities))
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        depths = {}
        for name in [*names, DEAD_QUEUE]:
            queue = await channel.declare_queue(name, passive=True)
            depths[name] = queue.declaration_result.message_count or 0
            await queue.purge()  # the next demo run starts empty
        return depths
