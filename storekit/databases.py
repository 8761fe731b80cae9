"""Databases as a whole: create one that is missing, or drop one with the databases named
after it."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import asyncpg

from storekit.translate import translated

__all__ = ["drop_family", "ensure_database"]


def _database_of(dsn: str) -> tuple[str, str]:
    parts = urlsplit(dsn)
    name = parts.path.lstrip("/") or "postgres"
    return urlunsplit(parts._replace(path="/postgres")), name


async def ensure_database(dsn: str) -> bool:
    """Create the DSN's database if it does not exist; True if it was created. Where it
    exists, only it is connected to: a party's role may reach no other database (not even
    the maintenance database, `postgres`, which creating it needs)."""
    admin, name = _database_of(dsn)
    with translated():
        try:
            await (await asyncpg.connect(dsn)).close()
            return False
        except asyncpg.InvalidCatalogNameError:
            pass  # not there: made below
        connection = await asyncpg.connect(admin)
        try:
            if await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                return False
            await connection.execute(f'CREATE DATABASE "{name}"')
            return True
        finally:
            await connection.close()


async def drop_family(dsn: str) -> list[str]:
    """Drop the DSN's database and every database named `<its name>_...` (a stack's, a
    test's or a benchmark's own, even while a client holds one); the names dropped."""
    admin, name = _database_of(dsn)
    with translated():
        connection = await asyncpg.connect(admin)
        try:
            rows = await connection.fetch(
                "SELECT datname FROM pg_database"
                " WHERE datname = $1 OR starts_with(datname, $1 || '_') ORDER BY datname",
                name,
            )
            for row in rows:
                await connection.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
        finally:
            await connection.close()
    return [row["datname"] for row in rows]
