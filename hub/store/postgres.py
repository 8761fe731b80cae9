"""The PostgreSQL implementation of the hub's ports (asyncpg, SQL from queries.sql)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from hub.entries import JournalEntry
from hub.ports import OutboxRow, Publisher
from hub.store.queries import query
from hub.store.rows import HeldRow
from storekit.migrate import migrate
from storekit.translate import translated

__all__ = ["MIGRATIONS_DIR", "PgStore", "record_columns"]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

_JOURNAL_COLUMNS = (
    "dedupe_key",
    "message_id",
    "kind",
    "sender_system",
    "sender_instance",
    "recipient_system",
    "recipient_municipality",
    "municipality",
    "procedure",
    "correlation_id",
    "causation_id",
    "key_id",
    "sent_at",
    "canonical",
    "signature",
    "decision",
    "reason_code",
    "reason",
    "policy_version",
    "trace_id",
    "exchange",
    "routing_key",
    "department",
    "originated_by",
    "direction",
    "data_items",
)


def record_columns(entries: Sequence[JournalEntry]) -> list[list[Any]]:
    """The column arrays of `record_batch` for a batch of journal entries."""
    columns: list[list[Any]] = [[getattr(e, c) for e in entries] for c in _JOURNAL_COLUMNS]
    columns.append([json.dumps(e.headers) for e in entries])
    return columns


class PgStore:
    """Journal and outbox on asyncpg pools.

    Two pools: the main one commits synchronously (a journaled message must survive a
    crash before it is acked); the second, for outbox marks and claims, commits with
    synchronous_commit off, since losing one only republishes a row.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        relaxed: asyncpg.Pool,
        claim_seconds: float,
        hold_seconds: float = 72 * 3600,
    ) -> None:
        self._pool = pool
        self._relaxed = relaxed
        self._claim = claim_seconds
        self._hold_seconds = hold_seconds

    @classmethod
    async def connect(
        cls,
        dsn: str,
        *,
        size: int = 4,
        command_timeout: float = 30.0,
        claim_seconds: float = 15.0,
        hold_seconds: float = 72 * 3600,
    ) -> PgStore:
        """Open the pools; DatabaseUnavailable if PostgreSQL does not answer."""
        # asyncpg's reset on release (RESET ALL ...) costs about 5 % at low load, but it
        # is also what finds a connection a database restart left half-broken and drops
        # it; skipping it let such a connection back into the pool and crash the worker
        # (InternalClientError, seen in the PostgreSQL-restart chaos test). Keep it.
        options: dict[str, Any] = {"command_timeout": command_timeout}
        with translated():
            pool = await asyncpg.create_pool(dsn, min_size=1, max_size=size, **options)
            relaxed = await asyncpg.create_pool(
                dsn,
                min_size=1,
                max_size=2,
                server_settings={"synchronous_commit": "off"},
                **options,
            )
        return cls(pool, relaxed, claim_seconds, hold_seconds)

    async def close(self) -> None:
        """Close the pools, waiting for connections in use."""
        await asyncio.wait_for(
            asyncio.gather(self._pool.close(), self._relaxed.close()), timeout=10
        )

    async def migrate(self) -> list[str]:
        """Apply pending migrations. With none pending this only reads, so the hub's own
        role opens a database its admin migrated; behind, that role gets SchemaNotCurrent."""
        with translated():
            async with self._pool.acquire() as connection:
                return await migrate(connection, MIGRATIONS_DIR)

    async def ping(self) -> None:
        """Raise DatabaseUnavailable unless the database answers."""
        with translated():
            await self._pool.fetchval(query("ping"))

    async def record(self, entries: Sequence[JournalEntry]) -> dict[str, int | None]:
        """Journal the batch and queue its outbox rows in one statement and transaction."""
        with translated():
            rows = await self._pool.fetch(
                query("record_batch"), *record_columns(entries), self._claim, self._hold_seconds
            )
        return {row["dedupe_key"]: row["outbox_seq"] for row in rows}

    async def journaled_bytes(self, keys: Sequence[str]) -> dict[str, bytes | None]:
        """The bytes journaled under those of `keys` that are journaled (None: pruned)."""
        with translated():
            rows = await self._pool.fetch(query("journaled_bytes"), list(keys))
        return {
            row["dedupe_key"]: None if row["canonical"] is None else bytes(row["canonical"])
            for row in rows
        }

    async def mark_published(self, seqs: Sequence[int]) -> None:
        """Record broker confirms (asynchronous commit)."""
        if seqs:
            with translated():
                await self._relaxed.execute(query("mark_published"), list(seqs))

    async def extend_claims(self, seqs: Sequence[int]) -> list[int]:
        """Renew the claim on rows this worker wrote and nobody published."""
        with translated():
            rows = await self._relaxed.fetch(query("extend_claims"), list(seqs), self._claim)
        return [row["seq"] for row in rows]

    async def relay(self, publish: Publisher, *, limit: int) -> int:
        """Claim expired rows, publish them, mark the confirmed ones."""
        with translated():
            rows = await self._relaxed.fetch(query("claim_expired"), self._claim, limit)
        if not rows:
            return 0
        published = await publish([_outbox_row(row) for row in rows])
        await self.mark_published(published)
        return len(published)

    async def outbox_lag(self) -> tuple[int, float]:
        """(unpublished rows, age in seconds of the oldest)."""
        with translated():
            row = await self._pool.fetchrow(query("outbox_lag"))
        if row is None:  # pragma: no cover - an aggregate always returns a row
            return 0, 0.0
        return int(row["unpublished"]), float(row["oldest_seconds"])

    def pool_usage(self) -> tuple[int, int]:
        """(connections in use, connections open) over both pools."""
        pools = (self._pool, self._relaxed)
        size = sum(pool.get_size() for pool in pools)
        return size - sum(pool.get_idle_size() for pool in pools), size

    async def journal_summary(self) -> list[tuple[str, str, int]]:
        """(decision, reason code or '', count) over the whole journal."""
        with translated():
            rows = await self._pool.fetch(query("journal_summary"))
        return [(r["decision"], r["reason"], int(r["n"])) for r in rows]

    async def journal_by_kind(self) -> list[tuple[str, str, str, int]]:
        """(kind, decision, reason code or '', count) over the whole journal."""
        with translated():
            rows = await self._pool.fetch(query("journal_by_kind"))
        return [(r["kind"], r["decision"], r["reason"], int(r["n"])) for r in rows]

    async def journal_since(
        self, since: datetime, codes: Iterable[str], page: int = 1000
    ) -> AsyncIterator[tuple[bytes, str, str | None]]:
        """(canonical bytes, decision, reason code) of routing decisions since `since`."""
        last, wanted = 0, list(codes)
        while True:
            with translated():
                rows = await self._pool.fetch(query("journal_page"), since, last, wanted, page)
            for row in rows:
                yield bytes(row["canonical"]), row["decision"], row["reason_code"]
            if len(rows) < page:
                return
            last = rows[-1]["seq"]

    async def held(self, municipality: str) -> list[HeldRow]:
        """The messages of a municipality waiting for approval, oldest first (no content)."""
        with translated():
            rows = await self._pool.fetch(query("held_page"), municipality, None, "held", None, 0)
        return [HeldRow.of(dict(row)) for row in rows]

    async def journal_count(self) -> int:
        """Rows in the journal."""
        with translated():
            return int(await self._pool.fetchval(query("journal_count")))


def _outbox_row(row: asyncpg.Record) -> OutboxRow:
    headers = row["headers"]
    return OutboxRow(
        seq=row["seq"],
        exchange=row["exchange"],
        routing_key=row["routing_key"],
        body=bytes(row["body"]),
        headers=json.loads(headers) if isinstance(headers, str) else dict(headers),
        message_id=None if row["message_id"] is None else str(row["message_id"]),
    )
