"""Numbered, forward-only SQL migrations, each applied in a transaction and recorded.

Each database keeps its own history in `schema_migrations`: the hub's migrations are in
`hub/store/migrations/`, the adapters' databases' in `adapters/store/migrations/`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from hub.errors import SchemaNotCurrent
from storekit.translate import Connection, translated

__all__ = [
    "Migration",
    "applied",
    "migrate",
    "migrate_database",
    "migrated_pool",
    "migrations",
    "pending",
]

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

    @property
    def label(self) -> str:
        """`0006_retention`, as errors and `sesshu db migrate` name it."""
        return f"{self.number:04d}_{self.name}"


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
    """Numbers of the migrations already applied (none where nothing was ever applied)."""
    if await connection.fetchval("SELECT to_regclass('schema_migrations')") is None:
        return []
    rows = await connection.fetch("SELECT number FROM schema_migrations ORDER BY number")
    return [row["number"] for row in rows]


async def pending(connection: Connection, directory: Path) -> list[Migration]:
    """The migrations of `directory` not yet applied to the connection's database."""
    done = set(await applied(connection))
    return [m for m in migrations(directory) if m.number not in done]


async def ensure_current(connection: Connection, directory: Path, why: str) -> None:
    """SchemaNotCurrent, naming each migration missing and `why` it is not applied here,
    unless the database has them all."""
    missing = await pending(connection, directory)
    if missing:
        database = await connection.fetchval("SELECT current_database()")
        raise SchemaNotCurrent(database, [m.label for m in missing], why)


async def migrate(connection: Connection, directory: Path) -> list[str]:
    """Apply every migration not yet applied; return the names applied now. A current
    database is only read (no DDL, no lock), so a run-time role that may not migrate opens
    it; one behind is SchemaNotCurrent for such a role."""
    if not await pending(connection, directory):
        return []
    try:
        return await _apply(connection, directory)
    except asyncpg.InsufficientPrivilegeError:
        role = await connection.fetchval("SELECT current_user")
        await ensure_current(connection, directory, f"{role} may not migrate (the admin does)")
        raise


async def _apply(connection: Connection, directory: Path) -> list[str]:
    await connection.execute("SELECT pg_advisory_lock($1)", _LOCK)
    try:
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " number integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        names = []
        for migration in await pending(connection, directory):
            async with connection.transaction():
                await connection.execute(migration.path.read_text(encoding="utf-8"))
                await connection.execute(
                    "INSERT INTO schema_migrations (number, name) VALUES ($1, $2)",
                    migration.number,
                    migration.name,
                )
            names.append(migration.label)
        return names
    finally:
        await connection.execute("SELECT pg_advisory_unlock($1)", _LOCK)


async def migrate_database(dsn: str, directory: Path) -> list[str]:
    """Connect to `dsn` (the admin's, at provisioning), apply what is pending, close."""
    with translated():
        connection = await asyncpg.connect(dsn)
        try:
            return await migrate(connection, directory)
        finally:
            await connection.close()


async def migrated_pool(
    dsn: str, directory: Path, *, size: int = 4, command_timeout: float = 30.0
) -> asyncpg.Pool:
    """A pool on `dsn` whose database has every migration of `directory` applied: by this
    call where something is pending and the role may (a current database is only read, so
    a run-time role opens it; one behind is SchemaNotCurrent for such a role);
    DatabaseUnavailable if PostgreSQL does not answer."""
    with translated():
        pool = await asyncpg.create_pool(
            dsn, min_size=1, max_size=size, command_timeout=command_timeout
        )
        try:
            async with pool.acquire() as connection:
                await migrate(connection, directory)
        except BaseException:
            await pool.close()
            raise
    return pool
