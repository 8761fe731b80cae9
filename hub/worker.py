"""The hub worker: consume `hub.ingress` in batches, journal, ack, publish from the outbox.

Per batch (what is waiting in the prefetch window, up to batch_max):

    triage every message (pure: verify, validate, tenant, decide)
    -> one transaction: journal + dedupe (ON CONFLICT DO NOTHING) + outbox rows, which
       this worker holds a claim on
    -> ack the batch (only now: a crash before this leaves every message queued)
    -> hand the new rows to the publisher loop

The publisher loop takes every row waiting (so batches merge under load), publishes them
with confirms and `mandatory` concurrently, and marks the confirmed ones published. A
crash after the commit leaves rows unpublished; once their claim runs out, the relay in
any worker claims and republishes them (SKIP LOCKED), and consumers dedupe by message id,
so a message is delivered once in effect whatever dies.

The hot path drives aio-pika directly rather than through FastStream: batching needs the
raw deliveries and one ack per batch, which FastStream's per-message handler model hides
(see the pipeline issue's note for the measured difference).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractRobustConnection,
)
from aiormq.exceptions import AMQPConnectionError, AMQPError, ChannelInvalidStateError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from contracts.broker import DEAD_EXCHANGE, DELIVER_EXCHANGE, INGRESS_QUEUE
from hub.errors import DatabaseUnavailable
from hub.pipeline import JournalEntry, Triage
from hub.ports import Journal, OutboxRow
from hub.settings import Settings
from hub.topology import declare

__all__ = ["Worker", "WorkerStats"]

log = logging.getLogger("sesshu.hub.worker")
T = TypeVar("T")
# Publishing failures that mean "the broker is away or slow", never "the message is bad".
BROKER_TRANSIENT: tuple[type[BaseException], ...] = (AMQPError, ConnectionError, TimeoutError)
# An ack on a channel that has since closed raises ChannelInvalidStateError, a RuntimeError.
ACK_LOST: tuple[type[BaseException], ...] = (*BROKER_TRANSIENT, RuntimeError)
PUBLISH_RETRYABLE: tuple[type[BaseException], ...] = (
    AMQPConnectionError,
    ChannelInvalidStateError,
    ConnectionError,
    TimeoutError,
)
PUBLISH_CYCLES = 4
MARK_INTERVAL = 0.05


@dataclass
class WorkerStats:
    """Counters for tests, benchmarks and the metrics endpoint."""

    batches: int = 0
    received: int = 0
    delivered: int = 0
    held: int = 0
    rejected: int = 0
    duplicates: int = 0
    published: int = 0
    relayed: int = 0
    publish_failures: int = 0


@dataclass
class Worker:
    """One hub worker process's consumer, outbox publisher and relay."""

    settings: Settings
    triage: Triage
    journal: Journal
    stats: WorkerStats = field(default_factory=WorkerStats)
    _exchanges: dict[str, AbstractExchange] = field(default_factory=dict)
    _inflight: set[asyncio.Task[None]] = field(default_factory=set)
    _buffer: asyncio.Queue[AbstractIncomingMessage | None] = field(default_factory=asyncio.Queue)
    _pending: list[tuple[OutboxRow, float]] = field(default_factory=list)
    _has_pending: asyncio.Event = field(default_factory=asyncio.Event)
    _room: asyncio.Event = field(default_factory=asyncio.Event)
    _draining: bool = False
    _confirmed: list[int] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set, then drain: finish the batch, flush the outbox."""
        connection = await self._connect(stop)
        if connection is None:
            return
        async with connection:
            consume = await connection.channel(publisher_confirms=False)
            await consume.set_qos(prefetch_count=self.settings.amqp.prefetch)
            publish = await connection.channel(publisher_confirms=True, on_return_raises=True)
            await self._prepare(publish)
            queue = await consume.get_queue(INGRESS_QUEUE)
            tag = await queue.consume(self._on_message)
            relay = asyncio.create_task(self._relay_loop(stop))
            waker = asyncio.create_task(self._wake_on(stop))
            publisher = asyncio.create_task(self._publisher_loop())
            marker = asyncio.create_task(self._marker_loop())
            try:
                await self._consume_loop(stop)
            finally:
                await queue.cancel(tag)
                await self._drain(publisher, relay, waker, marker)

    async def _connect(self, stop: asyncio.Event) -> AbstractRobustConnection | None:
        url = self.settings.amqp.url.get_secret_value()
        while not stop.is_set():
            try:
                return await aio_pika.connect_robust(url)
            except BROKER_TRANSIENT as exc:
                log.warning("RabbitMQ unavailable at start (%s); retrying", type(exc).__name__)
                await _sleep_unless(stop, self.settings.hub.retry_max_wait_seconds)
        return None

    async def _prepare(self, channel: AbstractChannel) -> None:
        await declare(channel, self.settings.hub.municipalities)
        for name in (DELIVER_EXCHANGE, DEAD_EXCHANGE):
            self._exchanges[name] = await channel.get_exchange(name)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        self._buffer.put_nowait(message)

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._buffer.put_nowait(None)

    async def _consume_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            batch = await self._next_batch()
            if batch:
                await self._handle(batch, stop)

    async def _next_batch(self) -> list[AbstractIncomingMessage]:
        first = await self._buffer.get()
        if first is None:
            return []
        batch = [first]
        while len(batch) < self.settings.hub.batch_max and not self._buffer.empty():
            message = self._buffer.get_nowait()
            if message is None:  # stop: keep the sentinel for the loop, finish this batch
                self._buffer.put_nowait(None)
                break
            batch.append(message)
        return batch

    async def _handle(self, batch: list[AbstractIncomingMessage], stop: asyncio.Event) -> None:
        now = datetime.now(UTC)
        entries = _unique([self.triage(message.body, now) for message in batch])
        new = await self._until_recorded(entries, stop)
        if new is None:
            return  # stopping during a database outage: nothing acked, all redelivered
        self._count(len(batch), entries, new)
        claimed = time.monotonic()
        rows = [_outbox_row(e, seq) for e in entries if (seq := new.get(e.dedupe_key))]
        if rows:  # committed: safe to send before the ack goes out
            self._pending.extend((row, claimed) for row in rows)
            self._has_pending.set()
        await _ack(batch)
        # Backpressure: rows are acked but not yet sent; while too many wait, stop taking
        # batches, the prefetch window fills and the broker holds the rest.
        while len(self._pending) >= self.settings.amqp.prefetch and not self._draining:
            self._room.clear()
            await self._room.wait()

    async def _until_recorded(
        self, entries: list[JournalEntry], stop: asyncio.Event
    ) -> dict[str, int | None] | None:
        # Retries within the configured limits, then pauses: the batch stays unacked and
        # the prefetch window stays full, so consumption stops until PostgreSQL is back.
        while True:
            try:
                return await self._retrying(lambda: self.journal.record(entries))
            except DatabaseUnavailable:
                log.error("PostgreSQL unavailable; consumption paused, nothing acked")
                if not await self._wait_for_database(stop):
                    return None

    async def _wait_for_database(self, stop: asyncio.Event) -> bool:
        while not stop.is_set():
            await _sleep_unless(stop, self.settings.hub.retry_max_wait_seconds)
            try:
                await self.journal.ping()
            except DatabaseUnavailable:
                continue
            log.warning("PostgreSQL is back; resuming")
            return True
        return False

    def _retry_policy(self, *exceptions: type[BaseException]) -> AsyncRetrying:
        """Retries on the named exceptions only, with the configured limits."""
        hub = self.settings.hub
        return AsyncRetrying(
            retry=retry_if_exception_type(exceptions),
            stop=stop_after_attempt(hub.retry_attempts),
            wait=wait_exponential(multiplier=0.05, max=hub.retry_max_wait_seconds),
            reraise=True,
        )

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        async for attempt in self._retry_policy(DatabaseUnavailable):
            with attempt:
                return await call()
        raise AssertionError("unreachable: AsyncRetrying reraises")  # pragma: no cover

    def _count(
        self, received: int, entries: list[JournalEntry], new: dict[str, int | None]
    ) -> None:
        stats = self.stats
        stats.batches += 1
        stats.received += received
        stats.duplicates += received - len(new)
        for entry in entries:
            if entry.dedupe_key in new:
                decision = entry.decision
                stats.delivered += decision == "deliver"
                stats.held += decision == "hold"
                stats.rejected += decision == "reject"

    async def _publisher_loop(self) -> None:
        # Up to PUBLISH_CYCLES batches of rows in flight at once: confirms for quorum
        # queues take a Raft round and an fsync, and waiting for one batch's confirms
        # before sending the next would put every message behind the slowest confirm.
        # Meanwhile new rows gather into the next batch. Rows are claimed, so concurrent
        # cycles (and relays) never send the same row.
        cycles = asyncio.Semaphore(PUBLISH_CYCLES)
        running: set[asyncio.Task[None]] = set()
        while True:
            if not self._pending:
                if self._draining:
                    break
                await self._has_pending.wait()
                self._has_pending.clear()
                continue
            await cycles.acquire()
            batch, self._pending = self._pending, []
            self._room.set()
            task = asyncio.create_task(self._publish_claimed(batch))
            running.add(task)
            task.add_done_callback(running.discard)
            task.add_done_callback(lambda _: cycles.release())
        await asyncio.gather(*running)

    async def _publish_claimed(self, batch: list[tuple[OutboxRow, float]]) -> None:
        # Rows that waited past half their claim get it renewed first; any whose claim ran
        # out may be a relay's by now, and are left to it.
        limit = time.monotonic() - self.settings.hub.outbox_claim_seconds / 2
        late = [row.seq for row, claimed in batch if claimed < limit]
        try:
            kept = (
                set(await self._retrying(lambda: self.journal.extend_claims(late)))
                if late
                else set()
            )
            rows = [row for row, claimed in batch if claimed >= limit or row.seq in kept]
            confirmed = await self.publish(rows)
            # Not `self._confirmed.extend(await ...)`: that binds the list before the await,
            # and the marker may have swapped it out meanwhile, losing these marks.
            self._confirmed.extend(confirmed)
        except DatabaseUnavailable:
            log.warning("outbox rows left to the relay: PostgreSQL unavailable")

    async def _marker_loop(self) -> None:
        # Marks go out in bulk, every MARK_INTERVAL: one UPDATE for many confirms instead
        # of one per publishing cycle. A mark lost in a crash only republishes its row.
        while True:
            await asyncio.sleep(MARK_INTERVAL)
            await self._flush_marks()

    async def _flush_marks(self) -> None:
        if not self._confirmed:
            return
        seqs, self._confirmed = self._confirmed, []
        try:
            await self._retrying(lambda: self.journal.mark_published(seqs))
        except DatabaseUnavailable:
            log.warning("%d outbox marks lost; those rows will be published again", len(seqs))

    async def publish(self, rows: Sequence[OutboxRow]) -> list[int]:
        """Publish rows with confirms and `mandatory`; return the seqs the broker confirmed."""
        results = await asyncio.gather(
            *(self._publish_one(row) for row in rows), return_exceptions=True
        )
        confirmed = [
            row.seq
            for row, result in zip(rows, results, strict=True)
            if not isinstance(result, BaseException)
        ]
        self.stats.published += len(confirmed)
        failures = Counter(type(r).__name__ for r in results if isinstance(r, BaseException))
        if failures:
            self.stats.publish_failures += sum(failures.values())
            log.warning(
                "%d publishes unconfirmed, left to the relay: %s",
                sum(failures.values()),
                dict(failures),
            )
        return confirmed

    async def _publish_one(self, row: OutboxRow) -> None:
        message = aio_pika.Message(
            row.body,
            headers=row.headers,
            message_id=row.message_id,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        # A lost connection or channel is worth a few quick tries while the robust
        # connection reconnects; a nack or a return (DeliveryError) is not, and goes back
        # to the outbox for the relay.
        async for attempt in self._retry_policy(*PUBLISH_RETRYABLE):
            with attempt:
                await self._exchanges[row.exchange].publish(
                    message,
                    routing_key=row.routing_key,
                    mandatory=True,
                    timeout=self.settings.amqp.publish_timeout_seconds,
                )

    async def _relay_loop(self, stop: asyncio.Event) -> None:
        hub = self.settings.hub
        while not stop.is_set():
            await _sleep_unless(stop, hub.relay_interval_seconds)
            await self.relay_once()

    async def relay_once(self) -> int:
        """Publish every row whose claim ran out unpublished (a dead or cut-off writer)."""
        hub, total = self.settings.hub, 0
        while True:
            try:
                count = await self.journal.relay(self.publish, limit=hub.batch_max)
            except DatabaseUnavailable:
                return total
            total += count
            self.stats.relayed += count
            if count < hub.batch_max:
                return total

    async def _drain(self, publisher: asyncio.Task[None], *others: asyncio.Task[None]) -> None:
        # The batch in hand is done; send what it wrote, then stop the helpers.
        self._draining = True
        self._has_pending.set()
        self._room.set()
        done, _ = await asyncio.wait({publisher}, timeout=self.settings.hub.drain_timeout_seconds)
        if not done:
            log.warning("drain timed out; %d outbox rows left to the relay", len(self._pending))
        for task in (publisher, *others):
            task.cancel()
        await asyncio.gather(publisher, *others, return_exceptions=True)
        await self._flush_marks()


def _unique(entries: list[JournalEntry]) -> list[JournalEntry]:
    # The same message twice in one batch (a redelivery racing a retry): keep the first.
    seen: dict[str, JournalEntry] = {}
    for entry in entries:
        seen.setdefault(entry.dedupe_key, entry)
    return list(seen.values())


def _outbox_row(entry: JournalEntry, seq: int) -> OutboxRow:
    # Only entries with an exchange get an outbox seq (record_batch), so both are set here.
    return OutboxRow(
        seq,
        entry.exchange or "",
        entry.routing_key or "",
        entry.canonical,
        entry.headers,
        entry.message_id,
    )


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


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
