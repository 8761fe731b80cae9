"""What the desk store's parts build on: statements on the pool, and statements on one
connection inside a transaction (`hub.store.desk` assembles them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from hub.store.queries import query
from storekit.translate import Connection, translated

__all__ = ["PoolStatements", "TransactionStatements"]


class PoolStatements:
    """Named statements run on the pool, each on a connection of its own."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def _fetch(self, name: str, *args: Any) -> list[dict[str, Any]]:
        with translated():
            rows = await self._pool.fetch(query(name), *args)
        return [dict(row) for row in rows]

    async def _fetchrow(self, name: str, *args: Any) -> dict[str, Any] | None:
        with translated():
            row = await self._pool.fetchrow(query(name), *args)
        return None if row is None else dict(row)


@dataclass
class TransactionStatements:
    """Statements that commit together, on the connection holding the transaction."""

    connection: Connection
