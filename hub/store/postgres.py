"""The PostgreSQL implementation of the hub's ports (asyncpg, SQL from queries.sql)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from hub.errors import Conflict, DatabaseUnavailable
from hub.pipeline import JournalEntry
from hub.ports import InboxTransaction, OutboxRow, Publisher
from hub.store.migrate import migrate
from hub.store.queries import query

__all__ = [
    "TRANSIENT",
    "PgStore",
    "ensure_database",
    "record_columns",
    "recreate_database",
    "translated",
]

# The failures that say "the database is away", not "this statement is wrong". Only these
# become DatabaseUnavailable and are retried; anything else is a bug and propagates.
TRANSIENT: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    # After a connection reset in mid-query (reported as CancelledError, below), releasing
    # that connection to the pool fails with "another operation is in progress" while the
    # pool terminates it: the next try gets a fresh connection. We never share a
    # connection between tasks, so here it means the outage, not a bug of ours.
    asyncpg.InternalClientError,
    # The server's own state, not the statement: a deadlock or serialization failure
    # between workers, a lock timeout, a standby after failover (read-only), a full disk or
    # too little memory, an operator's cancel, an I/O error. Trying again is right; taking
    # one of these for a fault of the message would dead-letter a valid one.
    asyncpg.TransactionRollbackError,
    asyncpg.LockNotAvailableError,
    asyncpg.ReadOnlySQLTransactionError,
    asyncpg.InsufficientResourcesError,
    asyncpg.OperatorInterventionError,
    asyncpg.PostgresSystemError,
)

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


@contextmanager
def translated() -> Iterator[None]:
    try:
        yield
    except TRANSIENT as exc:
        raise DatabaseUnavailable(f"PostgreSQL unavailable: {type(exc).__name__}") from exc
    except asyncpg.IntegrityConstraintViolationError as exc:
        # The constraint's name only: the message's detail would quote the values.
        raise Conflict(exc.constraint_name or type(exc).__name__) from None
    except asyncio.CancelledError as exc:
        # asyncpg reports a connection reset in mid-query as CancelledError ("Server
        # connection reset"). Only a task that is really being cancelled may see one;
        # otherwise it is an outage like any other, not a reason to kill the worker.
        task = asyncio.current_task()
        if task is None or task.cancelling():
            raise
        raise DatabaseUnavailable("PostgreSQL connection reset") from exc


def _database_of(dsn: str) -> tuple[str, str]:
    parts = urlsplit(dsn)
    name = parts.path.lstrip("/") or "postgres"
    return urlunsplit(parts._replace(path="/postgres")), name


async def ensure_database(dsn: str) -> bool:
    """Create the DSN's database if it does not exist; True if it was created."""
    admin, name = _database_of(dsn)
    with translated():
        connection = await asyncpg.connect(admin)
        try:
            if await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                return False
            await connection.execute(f'CREATE DATABASE "{name}"')
            return True
        finally:
            await connection.close()


Connection = asyncpg.Connection | PoolConnectionProxy


async def recreate_database(dsn: str, *, create: bool = True) -> None:
    """Drop the DSN's database and create it empty, or only drop it (the demo's and the
    benchmarks' own databases only)."""
    admin, name = _database_of(dsn)
    with translated():
        connection = await asyncpg.connect(admin)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if create:
                await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()


@dataclass
class _PgInboxTransaction:
    connection: Connection
    consumer: str
    message_id: str
    fresh: bool

    async def record_effect(self, effect: str) -> None:
        with translated():
            await self.connection.execute(
                query("adapter_effect"), self.consumer, self.message_id, effect
            )


class PgStore:
    """Journal, outbox and adapter inbox on asyncpg pools.

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
        """Apply pending migrations."""
        with translated():
            async with self._pool.acquire() as connection:
                return await migrate(connection)

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

    async def journaled_bytes(self, keys: Sequence[str]) -> dict[str, bytes]:
        """The bytes journaled under those of `keys` that are journaled."""
        with translated():
            rows = await self._pool.fetch(query("journaled_bytes"), list(keys))
        return {row["dedupe_key"]: bytes(row["canonical"]) for row in rows}

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

    async def held(self, municipality: str) -> list[dict[str, Any]]:
        """The messages of a municipality waiting for approval, oldest first."""
        with translated():
            rows = await self._pool.fetch(query("held_open"), municipality)
        return [dict(row) for row in rows]

    async def journal_count(self) -> int:
        """Rows in the journal."""
        with translated():
            return int(await self._pool.fetchval(query("journal_count")))

    @asynccontextmanager
    async def first_time(self, consumer: str, message_id: str) -> AsyncIterator[InboxTransaction]:
        """An adapter's dedupe row and effects, in one transaction."""
        with translated():
            async with self._pool.acquire() as connection, connection.transaction():
                fresh = await connection.fetchval(query("adapter_accept"), consumer, message_id)
                yield _PgInboxTransaction(connection, consumer, message_id, fresh is not None)


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
