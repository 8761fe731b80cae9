"""The worker's outbox publisher: send the rows it journaled, mark them, relay the orphans.

Rows arrive claimed by this worker (hub/store/queries.sql, record_batch). The publisher
loop takes every row waiting, so batches merge under load, and keeps up to
PUBLISH_CYCLES batches in flight: confirms for quorum queues take a Raft round and an
fsync, and waiting for one batch's confirms before sending the next would put every
message behind the slowest confirm. Confirmed rows are marked in bulk every
MARK_INTERVAL. The relay claims rows whose claim ran out unpublished (their writer died
or lost the broker) and sends them; consumers dedupe by message id.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import aio_pika
from aio_pika.abc import AbstractExchange
from aiormq.exceptions import AMQPConnectionError, ChannelInvalidStateError

from hub.errors import DatabaseUnavailable
from hub.ports import Journal, OutboxRow
from hub.retry import retry_policy, retrying, sleep_unless
from hub.settings import Settings
from hub.telemetry import PublishBatch
from observability.metrics import Hub

__all__ = ["MARK_INTERVAL", "PUBLISH_CYCLES", "Outbox", "OutboxStats"]

log = logging.getLogger("sesshu.hub.outbox")

# Lost connections and channels are worth a few quick tries while the robust connection
# reconnects; a nack or a return (DeliveryError) is not, and goes back to the relay.
PUBLISH_RETRYABLE: tuple[type[BaseException], ...] = (
    AMQPConnectionError,
    ChannelInvalidStateError,
    ConnectionError,
    TimeoutError,
)
PUBLISH_CYCLES = 4
MARK_INTERVAL = 0.05


@dataclass
class OutboxStats:
    """What the outbox sent."""

    published: int = 0
    relayed: int = 0
    publish_failures: int = 0


@dataclass
class Outbox:
    """Publishes the rows one worker journals, and relays anybody's orphans."""

    settings: Settings
    journal: Journal
    exchanges: dict[str, AbstractExchange]
    stats: OutboxStats = field(default_factory=OutboxStats)
    _pending: list[tuple[OutboxRow, float]] = field(default_factory=list)
    _has_pending: asyncio.Event = field(default_factory=asyncio.Event)
    _room: asyncio.Event = field(default_factory=asyncio.Event)
    _draining: bool = False
    _confirmed: list[int] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self, stop: asyncio.Event) -> None:
        """Start the publisher, marker and relay loops."""
        self._tasks = [
            asyncio.create_task(self._publisher_loop()),
            asyncio.create_task(self._marker_loop()),
            asyncio.create_task(self._relay_loop(stop)),
        ]

    def add(self, rows: Sequence[OutboxRow]) -> None:
        """Queue rows just journaled (claimed now) for publishing."""
        claimed = time.monotonic()
        self._pending.extend((row, claimed) for row in rows)
        self._has_pending.set()

    async def wait_for_room(self) -> None:
        """Backpressure: while a prefetch window's worth of rows waits, wait too."""
        while len(self._pending) >= self.settings.amqp.prefetch and not self._draining:
            self._room.clear()
            await self._room.wait()

    async def drain(self) -> None:
        """Send what is queued (within the drain timeout), flush marks, stop the loops."""
        self._draining = True
        self._has_pending.set()
        self._room.set()
        publisher = self._tasks[0]
        done, _ = await asyncio.wait({publisher}, timeout=self.settings.hub.drain_timeout_seconds)
        if not done:
            log.warning("drain timed out; %d outbox rows left to the relay", len(self._pending))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._flush_marks()

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
                set(await retrying(self.settings.hub, lambda: self.journal.extend_claims(late)))
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
            await retrying(self.settings.hub, lambda: self.journal.mark_published(seqs))
        except asyncio.CancelledError:
            # The drain cancels this loop, maybe mid-UPDATE: give the marks back for the
            # drain's final flush (marking a row twice is harmless), or they were lost
            # without a word and their rows published again after their claim.
            self._confirmed.extend(seqs)
            raise
        except DatabaseUnavailable:
            log.warning("%d outbox marks lost; those rows will be published again", len(seqs))

    async def publish(self, rows: Sequence[OutboxRow]) -> list[int]:
        """Publish rows with confirms and `mandatory`; return the seqs the broker confirmed."""
        publishing = PublishBatch.begin(rows, tracing_on=self.settings.telemetry.tracing)
        results = await asyncio.gather(
            *(self._publish_one(row) for row in rows), return_exceptions=True
        )
        publishing.end([r if isinstance(r, BaseException) else None for r in results])
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
        # The row's headers carry its message's trace context (the hub's process span, or
        # the desk's approval for a release): the recipient continues that.
        message = aio_pika.Message(
            row.body,
            headers=row.headers,
            message_id=row.message_id,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        await self._send_retrying(row, message)

    async def _send_retrying(self, row: OutboxRow, message: aio_pika.Message) -> None:
        try:
            await self._send(row, message)
        except PUBLISH_RETRYABLE:
            # Only now build the retry policy: the hot path publishes without tenacity.
            async for attempt in retry_policy(self.settings.hub, *PUBLISH_RETRYABLE):
                with attempt:
                    await self._send(row, message)

    async def _send(self, row: OutboxRow, message: aio_pika.Message) -> None:
        await self.exchanges[row.exchange].publish(
            message,
            routing_key=row.routing_key,
            mandatory=True,
            timeout=self.settings.amqp.publish_timeout_seconds,
        )

    async def _relay_loop(self, stop: asyncio.Event) -> None:
        hub = self.settings.hub
        while not stop.is_set():
            await sleep_unless(stop, hub.relay_interval_seconds)
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
            Hub.relayed.inc(count)
            if count < hub.batch_max:
                return total
