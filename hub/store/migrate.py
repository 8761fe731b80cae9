"""Numbered, forward-only SQL migrations, each applied in a transaction and recorded."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from asyncpg.pool import PoolConnectionProxy

__all__ = [
    "ADAPTER_MIGRATIONS_DIR",
    "MIGRATIONS_DIR",
    "Migration",
    "applied",
    "migrate",
    "migrations",
]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# The adapters' own databases (one per city, one for the network) have their own history.
ADAPTER_MIGRATIONS_DIR = Path(__file__).with_name("adapter_migrations")
_NAME = re.compile(r"(?P<number>[0-9]{4})_(?P<name>[a-z0-9_]+)\.sql")
# Any number that is the same for every hub process: two processes starting at once must
# not both apply a migration.
_LOCK = 0x5E55_4855


@dataclass(frozen=True)
class Migration:
    """One migration file."""

    number: int
    name: str
    path: Path


def migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
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


Connection = asyncpg.Connection | PoolConnectionProxy


async def applied(connection: Connection) -> list[int]:
    """Numbers of the migrations already applied."""
    rows = await connection.fetch("SELECT number FROM schema_migrations ORDER BY number")
    return [row["number"] for row in rows]


async def migrate(connection: Connection, directory: Path = MIGRATIONS_DIR) -> list[str]:
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
