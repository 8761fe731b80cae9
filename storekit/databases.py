"""Databases as a whole: create one that is missing, or make one anew."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import asyncpg

from storekit.translate import translated

__all__ = ["ensure_database", "recreate_database"]


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
