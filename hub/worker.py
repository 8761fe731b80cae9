"""The hub worker: consume `hub.ingress` in batches, journal, ack, publish from the outbox.

Per batch (what is waiting in the prefetch window, up to batch_max):

    triage every message (pure: verify, validate, tenant, decide; never raises)
    -> one transaction: journal + dedupe (ON CONFLICT DO NOTHING) + outbox rows, which
       this worker holds a claim on (hub/recording.py: a message the journal refuses is
       split out of the batch and dead-lettered alone; a reused id is an id_conflict)
    -> hand the new rows to the outbox publisher (hub/outbox.py), then ack the batch
       (only now: a crash before the commit leaves every message queued)

A crash after the commit leaves rows unpublished; once their claim runs out, the relay in
any worker claims and republishes them (SKIP LOCKED), and consumers dedupe by message id,
so a message is delivered once in effect whatever dies.

The hot path drives aio-pika directly rather than through FastStream: batching needs the
raw deliveries and one ack per batch, which FastStream's per-message handler model hides
(see the pipeline issue's note for the measured difference).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractRobustConnection,
)
from aiormq.exceptions import AMQPError
from opentelemetry.trace import SpanContext

from contracts.broker import DEAD_EXCHANGE, DELIVER_EXCHANGE, INGRESS_QUEUE
from hub.entries import JournalEntry
from hub.errors import DatabaseUnavailable
from hub.outbox import Outbox
from hub.pipeline import Triage
from hub.ports import Journal, OutboxRow
from hub.recording import Recorded, record_batch
from hub.retry import sleep_unless
from hub.settings import Settings
from hub.telemetry import BatchTelemetry
from hub.tls import amqp_ssl_context
from hub.topology import declare
from observability.metrics import Hub

__all__ = ["Worker", "WorkerStats"]

log = logging.getLogger("sesshu.hub.worker")
# Failures that mean "the broker is away or slow", never "the message is bad".
BROKER_TRANSIENT: tuple[type[BaseException], ...] = (AMQPError, ConnectionError, TimeoutError)
# Batches larger than this are triaged in a thread (see Worker._triaged).
_TRIAGE_INLINE_BYTES = 1024 * 1024
# An ack on a channel that has since closed raises ChannelInvalidStateError, a RuntimeError.
ACK_LOST: tuple[type[BaseException], ...] = (*BROKER_TRANSIENT, RuntimeError)


@dataclass
class WorkerStats:
    """Counters for tests, benchmarks and the metrics endpoint."""

    batches: int = 0
    received: int = 0
    delivered: int = 0
    held: int = 0
    rejected: int = 0
    duplicates: int = 0


@dataclass
class Worker:
    """One hub worker process's consumer, outbox publisher and relay."""

    settings: Settings
    triage: Triage
    journal: Journal
    stats: WorkerStats = field(default_factory=WorkerStats)
    outbox: Outbox | None = None
    _buffer: asyncio.Queue[tuple[AbstractIncomingMessage, int] | None] = field(
        default_factory=asyncio.Queue
    )

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set, then drain: finish the batch, flush the outbox."""
        connection = await self._connect(stop)
        if connection is None:
            return
        async with connection:
            consume = await connection.channel(publisher_confirms=False)
            await consume.set_qos(prefetch_count=self.settings.amqp.prefetch)
            publish = await connection.channel(publisher_confirms=True, on_return_raises=True)
            outbox = self.outbox = await self._prepare(publish)
            queue = await consume.get_queue(INGRESS_QUEUE)
            tag = await queue.consume(self._on_message)
            outbox.start(stop)
            waker = asyncio.create_task(self._wake_on(stop))
            try:
                await self._consume_loop(stop, outbox)
            finally:
                await queue.cancel(tag)
                await outbox.drain()
                waker.cancel()

    async def _connect(self, stop: asyncio.Event) -> AbstractRobustConnection | None:
        url = self.settings.amqp.url.get_secret_value()
        context = amqp_ssl_context(self.settings)
        while not stop.is_set():
            try:
                connection = await aio_pika.connect_robust(url, ssl_context=context)
            except BROKER_TRANSIENT as exc:
                log.warning("RabbitMQ unavailable at start (%s); retrying", type(exc).__name__)
                await sleep_unless(stop, self.settings.hub.retry_max_wait_seconds)
                continue
            _watch_connection(connection)
            return connection
        return None

    async def _prepare(self, channel: AbstractChannel) -> Outbox:
        await declare(channel, self.settings.hub.municipalities)
        exchanges = {
            name: await channel.get_exchange(name) for name in (DELIVER_EXCHANGE, DEAD_EXCHANGE)
        }
        return Outbox(self.settings, self.journal, exchanges)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        self._buffer.put_nowait((message, time.time_ns()))

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._buffer.put_nowait(None)

    async def _consume_loop(self, stop: asyncio.Event, outbox: Outbox) -> None:
        while not stop.is_set():
            batch = await self._next_batch()
            if batch:
                await self._handle(batch, stop, outbox)

    async def _next_batch(self) -> list[tuple[AbstractIncomingMessage, int]]:
        first = await self._buffer.get()
        if first is None:
            return []
        batch, size = [first], len(first[0].body)
        limit, most = self.settings.hub.batch_max_bytes, self.settings.hub.batch_max
        while len(batch) < most and size < limit and not self._buffer.empty():
            arrival = self._buffer.get_nowait()
            if arrival is None:  # stop: keep the sentinel for the loop, finish this batch
                self._buffer.put_nowait(None)
                break
            batch.append(arrival)
            size += len(arrival[0].body)
        return batch

    async def _handle(
        self,
        arrivals: list[tuple[AbstractIncomingMessage, int]],
        stop: asyncio.Event,
        outbox: Outbox,
    ) -> None:
        batch = [message for message, _ in arrivals]
        entries = await self._triaged(batch)
        telemetry = BatchTelemetry.begin(
            entries,
            [message.headers for message in batch],
            [arrived for _, arrived in arrivals],
            tracing_on=self.settings.telemetry.tracing,
        )
        with telemetry.commit():
            recorded = await self._until_recorded(entries, stop)
        if recorded is None:
            return  # stopping during a database outage: nothing acked, all redelivered
        telemetry.end([entry for entry, _ in recorded])
        self._count(len(batch), recorded)
        # Committed, so safe to send before the ack goes out.
        arrived = {id(entry): at for entry, (_, at) in zip(entries, arrivals, strict=True)}
        spans = telemetry.span_contexts()
        outbox.add(
            [
                # A split-out refusal has neither an arrival nor a span of its own.
                _outbox_row(entry, seq, arrived.get(id(entry)), spans.get(id(entry)))
                for entry, seq in recorded
                if seq is not None
            ]
        )
        await _ack(batch)
        # Rows are acked but maybe not yet sent; while too many wait, take no new batch:
        # the prefetch window fills and the broker holds the rest.
        await outbox.wait_for_room()

    async def _triaged(self, batch: list[AbstractIncomingMessage]) -> list[JournalEntry]:
        now = datetime.now(UTC)
        triage = self.triage  # one ring and policy for the whole batch, even mid-reload
        work = [(message.body, message.routing_key or "") for message in batch]

        def run() -> list[JournalEntry]:
            return [triage(body, now, key) for body, key in work]

        # Megabytes of envelopes take a second or more to read and verify: off the event
        # loop, so the broker's heartbeats are answered meanwhile and the connection (and
        # with it every unacked delivery) is not lost. Small batches stay on the loop.
        if sum(len(body) for body, _ in work) > _TRIAGE_INLINE_BYTES:
            return await asyncio.to_thread(run)
        return run()

    async def _until_recorded(
        self, entries: list[JournalEntry], stop: asyncio.Event
    ) -> Recorded | None:
        # Retries within the configured limits, then pauses: the batch stays unacked and
        # the prefetch window stays full, so consumption stops until PostgreSQL is back.
        while True:
            try:
                recorded = await record_batch(self.journal, entries, self.settings.hub)
            except DatabaseUnavailable as exc:
                Hub.database_up.set(0)
                log.error(
                    "PostgreSQL unavailable (%s); consumption paused, nothing acked",
                    type(exc).__name__,
                )
                if not await self._wait_for_database(stop):
                    return None
            else:
                Hub.database_up.set(1)
                return recorded

    async def _wait_for_database(self, stop: asyncio.Event) -> bool:
        while not stop.is_set():
            await sleep_unless(stop, self.settings.hub.retry_max_wait_seconds)
            try:
                await self.journal.ping()
            except DatabaseUnavailable:
                continue
            log.warning("PostgreSQL is back; resuming")
            return True
        return False

    def _count(self, received: int, recorded: Recorded) -> None:
        stats = self.stats
        stats.batches += 1
        stats.received += received
        stats.duplicates += received - len(recorded)
        for entry, _ in recorded:
            decision = entry.decision
            stats.delivered += decision == "deliver"
            stats.held += decision == "hold"
            stats.rejected += decision == "reject"


def _outbox_row(
    entry: JournalEntry, seq: int, arrived: int | None, span: SpanContext | None
) -> OutboxRow:
    # Only entries with an exchange get an outbox seq (record_batch), so both are set here.
    return OutboxRow(
        seq,
        entry.exchange or "",
        entry.routing_key or "",
        entry.canonical,
        entry.headers,
        entry.message_id,
        arrived,
        span,
    )


def _watch_connection(connection: AbstractRobustConnection) -> None:
    """Keep `sesshu_broker_connected` and the reconnect count true to the connection."""
    Hub.broker_connected.set(1)

    def lost(*_: object) -> None:
        Hub.broker_connected.set(0)
        log.warning("RabbitMQ connection closed")

    def back(*_: object) -> None:
        Hub.broker_connected.set(1)
        Hub.reconnects.inc()
        log.info("RabbitMQ connection re-established")

    connection.close_callbacks.add(lost)
    connection.reconnect_callbacks.add(back)


async def _ack(batch: list[AbstractIncomingMessage]) -> None:
    # One ack per channel incarnation: `multiple` acks every earlier delivery on it, and all
    # of those were in this batch or acked before. After a reconnect the old channel is
    # gone (even asking a message for it raises); its deliveries come back on their own
    # and the journal dedupes them.
    last_per_channel: dict[int, AbstractIncomingMessage] = {}
    lost = 0
    for message in batch:
        try:
            last_per_channel[id(message.channel)] = message
        except ACK_LOST:
            lost += 1
    for message in last_per_channel.values():
        try:
            await message.ack(multiple=True)
        except ACK_LOST:
            lost += 1
    if lost:
        log.warning("acks lost with their channel; redeliveries will be deduped")
