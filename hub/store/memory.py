"""In-memory twin of `PgStore`, for unit tests of the hub (no I/O)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from hub.entries import JournalEntry
from hub.ports import OutboxRow, Publisher

__all__ = ["MemoryStore"]


@dataclass
class _Outbox:
    row: OutboxRow
    claimed_until: float
    published: bool = False


@dataclass
class MemoryStore:
    """Journal and outbox held in dicts (one event loop, so no locks)."""

    claim_seconds: float = 15.0
    journal: dict[str, JournalEntry] = field(default_factory=dict)
    outbox: dict[int, _Outbox] = field(default_factory=dict)

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
        self.outbox[seq] = _Outbox(row, time.monotonic() + self.claim_seconds)
        return seq

    async def journaled_bytes(self, keys: Sequence[str]) -> dict[str, bytes]:
        """The bytes journaled under those of `keys` that are journaled."""
        return {key: self.journal[key].canonical for key in keys if key in self.journal}

    async def mark_published(self, seqs: Sequence[int]) -> None:
        """Record broker confirms."""
        for seq in seqs:
            self.outbox[seq].published = True

    async def extend_claims(self, seqs: Sequence[int]) -> list[int]:
        """Renew the claim on unpublished rows whose claim has not run out."""
        now = time.monotonic()
        mine = [
            s for s in seqs if not self.outbox[s].published and self.outbox[s].claimed_until > now
        ]
        for seq in mine:
            self.outbox[seq].claimed_until = now + self.claim_seconds
        return mine

    async def relay(self, publish: Publisher, *, limit: int) -> int:
        """Claim rows whose claim ran out, publish them, mark the confirmed ones."""
        now = time.monotonic()
        expired = [o for o in self.outbox.values() if not o.published and o.claimed_until < now]
        for item in expired[:limit]:
            item.claimed_until = now + self.claim_seconds
        published = await publish([o.row for o in expired[:limit]])
        await self.mark_published(published)
        return len(published)

    async def ping(self) -> None:
        """Always answers."""
