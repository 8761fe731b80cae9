"""PostgreSQL roles as a whole: log-in roles with passwords, members of a group that
pg_hba.conf names (`host all +<group> ... scram-sha-256`), made and dropped by whoever
provisions a stack (a superuser's DSN), and SQL scripts run as one role or another.

Roles belong to the cluster, not to a database: a role's name carries its stack's, and
dropping them goes by that prefix, only ever among the group's members.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

import asyncpg

from storekit.translate import translated

__all__ = ["drop_members", "ensure_logins", "identifier", "literal", "run_script"]

# Names longer are cut by PostgreSQL to 63 bytes: two long names could become one role.
_NAME_LIMIT = 63
# What a run-time role may never be or do, said each time so that re-running resets it.
_PLAIN = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT"


def identifier(name: str) -> str:
    """`name` quoted as an SQL identifier; ValueError where PostgreSQL would shorten it."""
    if len(name.encode()) > _NAME_LIMIT:
        raise ValueError(f"{name!r} is longer than PostgreSQL's {_NAME_LIMIT} bytes")
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """`text` quoted as an SQL string (utility statements take no parameters)."""
    return "'" + text.replace("'", "''") + "'"


async def ensure_logins(root_dsn: str, passwords: Mapping[str, str], *, group: str) -> None:
    """The NOLOGIN `group` if missing; each role of `passwords` made or reset: a plain log-in
    role (no superuser, no role or database making) with that password, in `group`."""
    with translated():
        connection = await asyncpg.connect(root_dsn)
        try:
            await _ensure_group(connection, group)
            async with connection.transaction():
                for role, password in passwords.items():
                    await _ensure_login(connection, role, password, group)
        finally:
            await connection.close()


async def _ensure_group(connection: asyncpg.Connection, group: str) -> None:
    if await connection.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", group):
        return
    # Two provisioning runs at once: the other made it (the catalog's unique index may
    # answer before CREATE ROLE's own check does).
    with contextlib.suppress(asyncpg.DuplicateObjectError, asyncpg.UniqueViolationError):
        await connection.execute(f"CREATE ROLE {identifier(group)} NOLOGIN")


async def _ensure_login(
    connection: asyncpg.Connection, role: str, password: str, group: str
) -> None:
    exists = await connection.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
    verb = "ALTER" if exists else "CREATE"
    # The password travels in the statement (no parameters here); the server stores only
    # its SCRAM verifier (password_encryption = scram-sha-256, PostgreSQL's default).
    await connection.execute(
        f"{verb} ROLE {identifier(role)} {_PLAIN} PASSWORD {literal(password)}"
    )
    await connection.execute(f"GRANT {identifier(group)} TO {identifier(role)}")


async def drop_members(root_dsn: str, group: str, pattern: str) -> list[str]:
    """Drop every member of `group` whose name matches the regular expression `pattern`
    (whole); the names dropped. Their
    databases go first (`drop_family`): a role that still owns or is granted something
    in a database left standing is not dropped (DependentObjectsStillExistError)."""
    with translated():
        connection = await asyncpg.connect(root_dsn)
        try:
            names = await _members(connection, group, pattern)
            for name in names:
                await connection.execute(f"DROP ROLE IF EXISTS {identifier(name)}")
        finally:
            await connection.close()
    return names


async def _members(connection: asyncpg.Connection, group: str, pattern: str) -> list[str]:
    rows = await connection.fetch(
        "SELECT r.rolname FROM pg_roles AS r"
        " JOIN pg_auth_members AS m ON m.member = r.oid"
        " JOIN pg_roles AS g ON g.oid = m.roleid AND g.rolname = $1"
        " WHERE r.rolname ~ ('^(' || $2 || ')$') ORDER BY r.rolname",
        group,
        pattern,
    )
    return [row["rolname"] for row in rows]


async def run_script(dsn: str, script: str) -> None:
    """Run SQL statements on `dsn` in one transaction (grants: all of them or none)."""
    with translated():
        connection = await asyncpg.connect(dsn)
        try:
            async with connection.transaction():
                await connection.execute(script)
        finally:
            await connection.close()
