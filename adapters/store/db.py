"""An adapter's own database: one per city (its systems' state) and one for the network.

`AdapterDb` is the inbox of every adapter of its owner (`first_time`) and the connection
its stores use. Inside `first_time`, the stores run on the inbox transaction's own
connection, so a delivery's effects commit with its dedupe row or not at all; outside it
(an edge reading a folder, a housekeeping job) they take a pooled connection.
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from adapters.ports import InboxTransaction
from adapters.store.queries import MIGRATIONS_DIR, query
from storekit.databases import ensure_database
from storekit.migrate import migrated_pool
from storekit.translate import Connection, translated

__all__ = ["AdapterDb"]


@dataclass
class _PgInboxTransaction:
    connection: Connection
    consumer: str
    message_id: str
    fresh: bool
    committed: list[Callable[[], None]] = field(default_factory=list)

    async def record_effect(self, effect: str) -> None:
        with translated():
            await self.connection.execute(
                query("adapter_effect"), self.consumer, self.message_id, effect
            )

    def on_commit(self, action: Callable[[], None]) -> None:
        self.committed.append(action)


class AdapterDb:
    """Pool, migrations and inbox of one adapter database; quacks like a pool for stores."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._current: contextvars.ContextVar[Any] = contextvars.ContextVar(
            "adapter_transaction", default=None
        )

    @classmethod
    async def open(cls, dsn: str, *, size: int = 4, command_timeout: float = 30.0) -> AdapterDb:
        """Create the database if needed, open a pool, apply the adapter migrations (a
        system's own role, stack/roles.py, opens the database the admin made and migrated;
        SchemaNotCurrent if a migration is missing)."""
        await ensure_database(dsn)
        return cls(
            await migrated_pool(dsn, MIGRATIONS_DIR, size=size, command_timeout=command_timeout)
        )

    async def close(self) -> None:
        """Close the pool."""
        await self._pool.close()

    @asynccontextmanager
    async def first_time(self, consumer: str, message_id: str) -> AsyncIterator[InboxTransaction]:
        """The adapter's dedupe row and every store write of its handler, in one
        transaction; what waits for its commit (`on_commit`) runs once it committed."""
        with translated():
            async with self._pool.acquire() as connection, connection.transaction():
                fresh = await connection.fetchval(query("adapter_accept"), consumer, message_id)
                transaction = _PgInboxTransaction(
                    connection, consumer, message_id, fresh is not None
                )
                token = self._current.set(connection)
                try:
                    yield transaction
                finally:
                    self._current.reset(token)
        # Reached only once the commit returned: a body that raised, or a commit that
        # failed, leaves the with-block by its exception.
        for action in transaction.committed:
            action()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """One transaction for every store call inside it, outside any delivery (a
        housekeeping job's batch: the re-encryption after a data key rotation)."""
        with translated():
            async with self._pool.acquire() as connection, connection.transaction():
                token = self._current.set(connection)
                try:
                    yield
                finally:
                    self._current.reset(token)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        current = self._current.get()
        if current is not None:
            yield current
            return
        async with self._pool.acquire() as connection:
            yield connection

    async def execute(self, sql: str, *args: object) -> str:
        """Run a statement on the delivery's transaction, or on a pooled connection."""
        async with self._connection() as connection:
            return str(await connection.execute(sql, *args))

    async def fetch(self, sql: str, *args: object) -> list[asyncpg.Record]:
        """Rows of a query, on the delivery's transaction or a pooled connection."""
        async with self._connection() as connection:
            return list(await connection.fetch(sql, *args))

    async def fetchrow(self, sql: str, *args: object) -> asyncpg.Record | None:
        """The first row of a query, or None."""
        async with self._connection() as connection:
            return await connection.fetchrow(sql, *args)  # type: ignore[no-any-return]

    async def fetchval(self, sql: str, *args: object) -> Any:
        """The first value of the first row, or None."""
        async with self._connection() as connection:
            return await connection.fetchval(sql, *args)
