"""Ports: what the hub and the adapters need from storage, as Protocols.

Each has a PostgreSQL implementation (`hub.store.postgres`) and an in-memory one
(`hub.store.memory`); `tests/integration/test_store_contract.py` runs one suite against both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from contracts.codes import InternalPersonNumber, LinkageCode
from contracts.payloads import DoseHistoryItem, FukuhonRegistration
from hub.pipeline import JournalEntry

__all__ = [
    "AdapterInbox",
    "FukuhonStore",
    "History",
    "InboxTransaction",
    "Journal",
    "LinkageRegistry",
    "OutboxRow",
    "Publisher",
    "in_date_order",
]

History = tuple[DoseHistoryItem, ...]
"""A 副本: one person's doses, in date order."""


def in_date_order(history: Iterable[DoseHistoryItem]) -> History:
    """A history as every 副本 store keeps and compares it: by date, kind, dose."""
    return tuple(sorted(history, key=lambda d: (d.administered_on, d.vaccine_type, d.dose_number)))


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """A message the hub still has to publish."""

    seq: int
    exchange: str
    routing_key: str
    body: bytes
    headers: dict[str, Any]
    message_id: str | None


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


class InboxTransaction(Protocol):
    """An adapter's transaction around one delivery."""

    fresh: bool
    """True the first time this consumer sees the message; False for a redelivery."""

    async def record_effect(self, effect: str) -> None:
        """Write what the adapter did with the message, committed with the dedupe row."""
        ...


class AdapterInbox(Protocol):
    """An adapter's dedupe of deliveries, in the same transaction as its effect."""

    def first_time(
        self, consumer: str, message_id: str
    ) -> AbstractAsyncContextManager[InboxTransaction]:
        """Enter a transaction that dedupes `message_id` for `consumer`.

        The dedupe row commits with whatever the body of the `async with` does, and rolls
        back with it if the body raises, so a failed handler is retried on redelivery.
        """
        ...


class LinkageRegistry(Protocol):
    """Where an intermediate server keeps its 符号 ↔ 団体内統合宛名番号 mapping (F5)."""

    async def code_for(self, agency: str, person: InternalPersonNumber) -> LinkageCode | None:
        """The agency's code for the person, if one was issued."""
        ...

    async def person_for(self, agency: str, code: LinkageCode) -> InternalPersonNumber | None:
        """The person an agency's code stands for, if any."""
        ...

    async def put(
        self, agency: str, person: InternalPersonNumber, code: LinkageCode
    ) -> LinkageCode:
        """Record a new code; if the agency already has one for the person (a concurrent
        acquisition won), keep and return that one instead."""
        ...


class FukuhonStore(Protocol):
    """Where an intermediate server keeps the 副本 (F4)."""

    async def apply(self, registration: FukuhonRegistration) -> None:
        """Store (upsert) or remove (delete) one person's 副本 for a data item."""
        ...

    async def history(self, person: str, data_item: str) -> History | None:
        """One person's 副本, if registered (R45: content can be viewed)."""
        ...

    async def everything(self, data_item: str) -> Mapping[str, History]:
        """Every person's 副本 of a data item (for reconciliation, R46)."""
        ...
