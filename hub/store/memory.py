"""In-memory twin of `PgStore`, for unit tests of the hub and the adapters (no I/O)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from hub.pipeline import JournalEntry
from hub.ports import InboxTransaction, OutboxRow, Publisher

__all__ = ["MemoryStore"]


@dataclass
class _Outbox:
    row: OutboxRow
    created: float
    published: bool = False


@dataclass
class _MemoryInboxTransaction:
    effects: list[str]
    fresh: bool

    async def record_effect(self, effect: str) -> None:
        self.effects.append(effect)


@dataclass
class MemoryStore:
    """Journal, outbox and adapter inbox held in dicts; one lock stands in for row locks."""

    journal: dict[str, JournalEntry] = field(default_factory=dict)
    outbox: dict[int, _Outbox] = field(default_factory=dict)
    inbox: set[tuple[str, str]] = field(default_factory=set)
    effects: list[tuple[str, str, str]] = field(default_factory=list)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def record(self, entries: Sequence[JournalEntry]) -> dict[str, int | None]:
        """Journal new entries and queue their outbox rows."""
        new: dict[str, int | None] = {}
        for entry in entries:
            if entry.dedupe_key in self.journal:
                continue
            self.journal[entry.dedupe_key] = entry
            new[entry.dedupe_key] = self._queue(entry)
        return new

    def _queue(self, entry: JournalEntry) -> int | None:
        if entry.exchange is None or entry.routing_key is None:
            return None
        seq = len(self.outbox) + 1
        row = OutboxRow(
            seq, entry.exchange, entry.routing_key, entry.canonical, entry.headers, entry.message_id
        )
        self.outbox[seq] = _Outbox(row, time.monotonic())
        return seq

    async def publish_own(self, rows: Sequence[OutboxRow], publish: Publisher) -> int:
        """Publish rows not yet published, under the lock a relay also takes."""
        async with self._lock:
            mine = [row for row in rows if not self.outbox[row.seq].published]
            return await self._publish_and_mark(mine, publish)

    async def relay(self, publish: Publisher, *, older_than: float, limit: int) -> int:
        """Publish unpublished rows older than `older_than` seconds."""
        async with self._lock:
            cutoff = time.monotonic() - older_than
            rows = [o.row for o in self.outbox.values() if not o.published and o.created < cutoff]
            return await self._publish_and_mark(rows[:limit], publish)

    async def _publish_and_mark(self, rows: Sequence[OutboxRow], publish: Publisher) -> int:
        published = await publish(rows) if rows else []
        for seq in published:
            self.outbox[seq].published = True
        return len(published)

    async def ping(self) -> None:
        """Always answers."""

    @asynccontextmanager
    async def first_time(self, consumer: str, message_id: str) -> AsyncIterator[InboxTransaction]:
        """Dedupe row and effects, kept only if the body does not raise."""
        key = (consumer, message_id)
        fresh = key not in self.inbox
        transaction = _MemoryInboxTransaction([], fresh)
        yield transaction
        self.inbox.add(key)
        self.effects.extend((consumer, message_id, e) for e in transaction.effects)
