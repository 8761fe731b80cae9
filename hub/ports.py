"""Ports: what the hub needs from storage, as Protocols.

The journal has a PostgreSQL implementation (`hub.store.postgres.PgStore`) and an in-memory
one (`hub.store.memory.MemoryStore`); the adapters' ports are in `adapters/ports.py`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from opentelemetry.trace import SpanContext

from hub.entries import JournalEntry

__all__ = ["Journal", "OutboxRow", "Publisher"]


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """A message the hub still has to publish."""

    seq: int
    exchange: str
    routing_key: str
    body: bytes
    headers: dict[str, Any]
    message_id: str | None
    arrived: int | None = None
    """time.time_ns() when the worker took the message in; None for a relayed row."""
    span: SpanContext | None = None
    """The worker's `process` span of the message (what `headers` name as traceparent),
    kept so the publish links to it without reading it back; None for a relayed row."""


Publisher = Callable[[Sequence[OutboxRow]], Awaitable[Sequence[int]]]
"""Publishes rows with confirms and returns the seqs the broker confirmed."""


class Journal(Protocol):
    """The hub's journal, inbox and outbox."""

    async def record(self, entries: Sequence[JournalEntry]) -> dict[str, int | None]:
        """Journal new entries and queue their outbox rows in one transaction.

        Returns {dedupe_key: outbox seq or None} for the entries that were new; an entry
        whose dedupe_key is already journaled is a duplicate and writes nothing. The new
        outbox rows are claimed by the caller for the store's claim period.
        """
        ...

    async def journaled_bytes(self, keys: Sequence[str]) -> Mapping[str, bytes | None]:
        """The bytes journaled under those of these dedupe keys that are journaled (to tell
        a reused id from a resend of the same message); None where retention removed
        them."""
        ...

    async def mark_published(self, seqs: Sequence[int]) -> None:
        """Record that the broker confirmed these rows (durability not needed: a lost mark
        only means the row goes out again, and consumers dedupe)."""
        ...

    async def extend_claims(self, seqs: Sequence[int]) -> list[int]:
        """Renew this worker's claim on rows it wrote; the seqs still its own."""
        ...

    async def relay(self, publish: Publisher, *, limit: int) -> int:
        """Claim rows whose claim ran out unpublished, publish them, mark what the broker
        confirmed; the number marked. Any number of relays can run at once."""
        ...

    async def ping(self) -> None:
        """Raise DatabaseUnavailable unless the database answers."""
        ...
