"""The desk store's accounts: staff with their terminals, contractors' roster entries,
sessions and API tokens (the secrets as SHA-256 only).

Writes take the transaction they belong to, so an account change commits with its audit
row (`hub.desk.accounts`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import asyncpg

from hub.store.queries import query
from hub.store.rows import (
    LockLimits,
    LoginLocks,
    Network,
    SessionUse,
    StaffRow,
    StaffWithPassword,
)
from hub.store.statements import PoolStatements, TransactionStatements
from storekit.translate import Connection, translated

__all__ = ["AccountStatements", "LoginTransaction"]


class AccountStatements(PoolStatements):
    """Staff accounts, sessions and API tokens."""

    async def add_staff(
        self,
        tx: TransactionStatements,
        *,
        user_id: str,
        kind: str,
        roles: Sequence[str],
        municipality: str,
        department: str,
        may_reveal: bool,
        password_hash: str | None,
        terminals: Sequence[Network],
    ) -> bool:
        """Create an account; False if the id is taken."""
        with translated():
            created = await tx.connection.fetchval(
                query("staff_add"),
                user_id,
                kind,
                list(roles),
                municipality,
                department,
                may_reveal,
                password_hash,
                list(terminals),
            )
        return created is not None

    async def add_roster_entry(
        self,
        tx: TransactionStatements,
        user_id: str,
        *,
        company: str,
        person: str,
        valid_from: date,
        valid_until: date,
    ) -> None:
        """A contractor's roster entry, in the transaction adding its account."""
        with translated():
            await tx.connection.execute(
                query("roster_add"), user_id, company, person, valid_from, valid_until
            )

    async def roster_names(self) -> dict[str, str]:
        """The person of each contractor's roster entry, by user id."""
        return {row["user_id"]: row["person"] for row in await self._fetch("roster_names")}

    async def lock_terminals(
        self, tx: TransactionStatements, user_id: str
    ) -> tuple[tuple[Network, ...], str] | None:
        """(terminals, municipality) of an account, locked for a change; None if unknown."""
        with translated():
            row = await tx.connection.fetchrow(query("staff_terminals_lock"), user_id)
        return None if row is None else (tuple(row["terminals"]), row["municipality"])

    async def set_terminals(
        self, tx: TransactionStatements, user_id: str, terminals: Sequence[Network]
    ) -> None:
        """Replace an account's terminals."""
        with translated():
            await tx.connection.execute(query("staff_set_terminals"), user_id, list(terminals))

    async def staff(self, user_id: str) -> StaffWithPassword | None:
        """An account by id, with its password hash."""
        row = await self._fetchrow("staff_get", user_id)
        return None if row is None else StaffWithPassword.of(row)

    async def staff_list(self) -> list[StaffRow]:
        """Every account, by id."""
        return [StaffRow.of(row) for row in await self._fetch("staff_list")]

    async def disable_staff(self, user_id: str, tx: TransactionStatements) -> tuple[int, int]:
        """(accounts disabled: 0 or 1, sessions and tokens ended)."""
        with translated():
            row = await tx.connection.fetchrow(query("staff_disable"), user_id)
        return (0, 0) if row is None else (int(row["disabled"]), int(row["ended"]))

    async def set_password(self, tx: TransactionStatements, user_id: str, digest: str) -> None:
        """Replace a person's password hash."""
        with translated():
            await tx.connection.execute(query("staff_set_password"), user_id, digest)

    async def add_session(
        self,
        tx: TransactionStatements,
        *,
        digest: str,
        user_id: str,
        kind: str,
        label: str | None,
        client: str,
        agent: str,
        seconds: float,
    ) -> None:
        """Store a session or API token by the digest of its secret."""
        with translated():
            await tx.connection.execute(
                query("session_add"), digest, user_id, kind, label, client, agent, seconds
            )

    async def login_locks(
        self, user_id: str | None, client: str, now: datetime, limits: LockLimits
    ) -> LoginLocks:
        """The log-in locks holding at `now` for an account (None: an unknown id) at a
        client address."""
        with translated():
            return await _login_locks(self._pool, user_id, client, now, limits)

    async def session_staff(
        self, digest: str, *, idle_seconds: float, touch_seconds: float
    ) -> SessionUse | None:
        """The account behind a live session or token, and what the desk decides on: a
        session left unused for over `idle_seconds`, one not marked used within
        `touch_seconds` (`touch_session` marks it)."""
        row = await self._fetchrow("session_staff", digest, idle_seconds, touch_seconds)
        return None if row is None else SessionUse.of(row)

    async def touch_session(self, digest: str) -> None:
        """Mark a session or token used now."""
        with translated():
            await self._pool.execute(query("session_touch"), digest)

    async def end_session(self, digest: str, tx: TransactionStatements) -> str | None:
        """End a session; the user id it belonged to, or None if it was not live."""
        with translated():
            user = await tx.connection.fetchval(query("session_end"), digest)
        return None if user is None else str(user)


class LoginTransaction(TransactionStatements):
    """A log-in's decision and its audit row, in one transaction."""

    async def login_locks(
        self, user_id: str | None, client: str, now: datetime, limits: LockLimits
    ) -> LoginLocks:
        """The locks holding, read under the audit chain's lock (which the try's audit row
        takes anyway): tries at once are decided one after another, each counting the
        ones before it, so a burst of guesses in parallel cannot outrun its count."""
        with translated():
            await self.connection.execute(query("audit_lock"))
            return await _login_locks(self.connection, user_id, client, now, limits)


async def _login_locks(
    on: asyncpg.Pool | Connection,
    user_id: str | None,
    client: str,
    now: datetime,
    limits: LockLimits,
) -> LoginLocks:
    rows = await on.fetch(query("login_locks"), user_id, client, now, *limits)
    return LoginLocks.of(dict(rows[0]))  # an aggregate: one row, whatever it counted
