"""The desk store's accounts: staff, sessions and API tokens (the secrets as SHA-256 only).

Writes take the transaction they belong to, so an account change commits with its audit
row (`hub.desk.accounts`)."""

from __future__ import annotations

from collections.abc import Sequence

from hub.store.queries import query
from hub.store.rows import StaffRow, StaffWithPassword
from hub.store.statements import PoolStatements, TransactionStatements
from storekit.translate import translated

__all__ = ["AccountStatements"]


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
            )
        return created is not None

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

    async def failed_logins(self, user_id: str, seconds: float) -> int:
        """Failed log-ins of an account within the last `seconds`."""
        with translated():
            return int(await self._pool.fetchval(query("failed_logins"), user_id, seconds))

    async def session_staff(self, digest: str) -> StaffRow | None:
        """The account behind a live session or token."""
        row = await self._fetchrow("session_staff", digest)
        return None if row is None else StaffRow.of(row)

    async def end_session(self, digest: str, tx: TransactionStatements) -> str | None:
        """End a session; the user id it belonged to, or None if it was not live."""
        with translated():
            user = await tx.connection.fetchval(query("session_end"), digest)
        return None if user is None else str(user)
