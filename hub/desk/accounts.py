"""Accounts: staff added and disabled and API tokens issued, each audited (R16, R18), on
the log-in and sessions of sessions.py."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from contracts.codes import LocalGovCode
from hub import staff
from hub.approvals import Role, Staff
from hub.desk.common import DeskError, NotAuthenticated, cli_actor, cli_terminal
from hub.desk.sessions import Sessions
from hub.store.rows import StaffRow

__all__ = ["Accounts"]


class Accounts(Sessions):
    """Staff accounts and API tokens, with log-in and sessions."""

    async def add_staff(
        self,
        user_id: str,
        *,
        roles: Sequence[Role],
        municipality: str,
        department: str,
        password: str | None,
        may_reveal: bool = False,
        actor: str | None = None,
    ) -> None:
        """Create a person's account (with a password) or a system's (password None)."""
        code = _checked_account(user_id, municipality, department, roles)
        digest = (
            await asyncio.to_thread(staff.hash_password, password) if password is not None else None
        )
        kind = "person" if password is not None else "system"
        async with self.store.transaction() as tx:
            created = await self.store.add_staff(
                tx,
                user_id=user_id,
                kind=kind,
                roles=[r.value for r in roles],
                municipality=code,
                department=department,
                may_reveal=may_reveal,
                password_hash=digest,
            )
            if not created:
                raise DeskError("user_exists", f"user {user_id} already exists")
            await tx.audit(
                at=self._now(),
                actor=actor or cli_actor(),
                action="staff.added",
                subject=user_id,
                municipality=code,
                detail={
                    "kind": kind,
                    "roles": sorted(r.value for r in roles),
                    "department": department,
                    "may_reveal": may_reveal,
                },
            )

    async def disable_staff(self, user_id: str, *, actor: str | None = None) -> int:
        """Disable an account (R18) and end its sessions and tokens; sessions ended."""
        known = await self.store.staff(user_id)
        async with self.store.transaction() as tx:
            disabled, ended = await self.store.disable_staff(user_id, tx)
            if known is None or not disabled:
                raise DeskError(
                    "no_such_user" if known is None else "already_disabled",
                    f"user {user_id} " + ("does not exist" if known is None else "is disabled"),
                )
            await tx.audit(
                at=self._now(),
                actor=actor or cli_actor(),
                action="staff.disabled",
                subject=user_id,
                municipality=known.municipality,
                detail={"sessions_ended": ended},
            )
        return ended

    async def account(self, user_id: str) -> Staff:
        """An account by id, for a tool acting as it; NotAuthenticated if unknown or
        disabled."""
        row = await self.store.staff(user_id)
        if row is None:
            raise NotAuthenticated("no_such_user", f"user {user_id} does not exist")
        account = row.as_staff()
        if account.disabled:
            raise NotAuthenticated("account_disabled", f"user {user_id} is disabled")
        return account

    async def issue_token(
        self, user_id: str, *, label: str, days: float, actor: str | None = None
    ) -> str:
        """A new API token for an account; only its digest is kept."""
        row = await self.store.staff(user_id)
        if row is None or row.disabled_at is not None:
            raise DeskError("no_such_user", f"user {user_id} does not exist or is disabled")
        async with self.store.transaction() as tx:
            secret = await self._open(
                tx, user_id, "api_token", label, cli_terminal(), seconds=days * 86400
            )
            await tx.audit(
                at=self._now(),
                actor=actor or cli_actor(),
                action="token.issued",
                subject=user_id,
                municipality=row.municipality,
                detail={"label": label, "days": days},
            )
        return secret

    async def staff_list(self) -> list[StaffRow]:
        """Every account (no password hashes)."""
        return await self.store.staff_list()


def _checked_account(
    user_id: str, municipality: str, department: str, roles: Sequence[Role]
) -> str:
    """The account's municipality code, once its id, department and roles are valid."""
    if not staff.USER_ID.fullmatch(user_id):
        raise DeskError("invalid_user_id", "user id: 2-64 of a-z 0-9 . _ - (no names)")
    code = str(LocalGovCode(municipality))
    if not staff.USER_ID.fullmatch(department):
        raise DeskError("invalid_department", "department: 2-64 of a-z 0-9 . _ -")
    if not roles:
        raise DeskError("invalid_roles", "roles: at least one role")
    return code
