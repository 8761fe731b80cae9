"""Numbered, forward-only SQL migrations, each applied in a transaction and recorded.

Each database keeps its own history in `schema_migrations`: the hub's migrations are in
`hub/store/migrations/`, the adapters' databases' in `adapters/store/migrations/`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from storekit.translate import Connection, translated

__all__ = ["Migration", "applied", "migrate", "migrated_pool", "migrations"]

_NAME = re.compile(r"(?P<number>[0-9]{4})_(?P<name>[a-z0-9_]+)\.sql")
# Any number that is the same for every process: two processes starting at once must not
# both apply a migration (the lock is per database).
_LOCK = 0x5E55_4855


@dataclass(frozen=True)
class Migration:
    """One migration file."""

    number: int
    name: str
    path: Path


def migrations(directory: Path) -> list[Migration]:
    """Every migration file, in order; a gap or a badly named file is an error."""
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.fullmatch(path.name)
        if not match:
            raise ValueError(f"migration file {path.name} is not NNNN_name.sql")
        found.append(Migration(int(match["number"]), match["name"], path))
    numbers = [m.number for m in found]
    if numbers != list(range(1, len(found) + 1)):
        raise ValueError(f"migrations must be numbered 1..n without gaps, found {numbers}")
    return found


async def applied(connection: Connection) -> list[int]:
    """Numbers of the migrations already applied."""
    rows = await connection.fetch("SELECT number FROM schema_migrations ORDER BY number")
    return [row["number"] for row in rows]


async def migrate(connection: Connection, directory: Path) -> list[str]:
    """Apply every migration not yet applied; return the names applied now."""
    await connection.execute("SELECT pg_advisory_lock($1)", _LOCK)
    try:
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " number integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = set(await applied(connection))
        names = []
        for migration in migrations(directory):
            if migration.number in done:
                continue
            async with connection.transaction():
                await connection.execute(migration.path.read_text(encoding="utf-8"))
                await connection.execute(
                    "INSERT INTO schema_migrations (number, name) VALUES ($1, $2)",
                    migration.number,
                    migration.name,
                )
            names.append(f"{migration.number:04d}_{migration.name}")
        return names
    finally:
        await connection.execute("SELECT pg_advisory_unlock($1)", _LOCK)


async def migrated_pool(
    dsn: str, directory: Path, *, size: int = 4, command_timeout: float = 30.0
) -> asyncpg.Pool:
    """A pool on `dsn` whose database has every migration of `directory` applied;
    DatabaseUnavailable if PostgreSQL does not answer."""
    with translated():
        pool = await asyncpg.create_pool(
            dsn, min_size=1, max_size=size, command_timeout=command_timeout
        )
        async with pool.acquire() as connection:
            await migrate(connection, directory)
    return pool
