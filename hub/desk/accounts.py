"""Accounts and sessions: staff added and disabled, API tokens, log-in and log-out, each
audited with its terminal (R16, R18, R29)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import NoReturn

from contracts.codes import LocalGovCode
from hub import staff
from hub.approvals import Role, Staff
from hub.desk.common import (
    LOCKOUT_FAILURES,
    LOCKOUT_SECONDS,
    DeskBase,
    DeskError,
    NotAuthenticated,
    Terminal,
    cli_actor,
    cli_terminal,
)
from hub.store.desk import DeskTransaction
from hub.store.rows import StaffRow, StaffWithPassword
from observability.metrics import Desk as DeskMetrics

__all__ = ["Accounts"]


class Accounts(DeskBase):
    """Staff accounts, sessions and API tokens."""

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

    async def login(self, user_id: str, password: str, terminal: Terminal) -> tuple[str, Staff]:
        """Check a password and open a session: (session secret, account). Every try is
        audited with the terminal (R29); a failure does not say which part was wrong."""
        row = await self.store.staff(user_id) if staff.USER_ID.fullmatch(user_id) else None
        # argon2 takes tens of milliseconds of CPU: off the event loop.
        good = await asyncio.to_thread(
            staff.check_password, row.password_hash if row else None, password
        )
        now = self._now()
        locked = row is not None and (
            await self.store.failed_logins(user_id, LOCKOUT_SECONDS) >= LOCKOUT_FAILURES
        )
        if row is None or not good or locked or row.disabled_at is not None:
            await self._login_failed(user_id, row, _failure(row, good, locked), terminal, now)
        async with self.store.transaction() as tx:
            secret = await self._open(
                tx, user_id, "session", None, terminal, seconds=self._session_seconds
            )
            await self._rehash_if_weak(tx, row, password)
            await tx.audit(
                at=now,
                actor=user_id,
                action="login",
                subject=user_id,
                municipality=row.municipality,
                terminal=terminal.as_dict(),
                detail={},
            )
        DeskMetrics.logins.labels("ok").inc()
        return secret, row.as_staff()

    async def _login_failed(
        self,
        user_id: str,
        row: StaffWithPassword | None,
        reason: str,
        terminal: Terminal,
        now: datetime,
    ) -> NoReturn:
        """Audit a failed log-in, then refuse it without saying which part was wrong."""
        async with self.store.transaction() as tx:
            await tx.audit(
                at=now,
                actor=user_id if row is not None else "unknown",
                action="login.failed",
                subject=user_id if row is not None else None,
                municipality=row.municipality if row is not None else None,
                terminal=terminal.as_dict(),
                detail={"reason": reason},
            )
        DeskMetrics.logins.labels("locked_out" if reason == "locked_out" else "failed").inc()
        if reason == "locked_out":
            raise NotAuthenticated(
                "too_many_attempts", "too many failed log-ins; try again in 15 minutes"
            )
        raise NotAuthenticated("login_failed", "user id or password is wrong, or disabled")

    async def _rehash_if_weak(
        self, tx: DeskTransaction, row: StaffWithPassword, password: str
    ) -> None:
        if row.password_hash is not None and staff.needs_rehash(row.password_hash):
            # Hashed under weaker parameters than today's: now is the one moment the
            # password is at hand to hash it again.
            digest = await asyncio.to_thread(staff.rehash, password)
            await self.store.set_password(tx, row.user_id, digest)

    async def _open(
        self,
        tx: DeskTransaction,
        user_id: str,
        kind: str,
        label: str | None,
        terminal: Terminal,
        *,
        seconds: float,
    ) -> str:
        """A new session or token secret, stored as its digest only."""
        secret = staff.new_secret()
        await self.store.add_session(
            tx,
            digest=staff.secret_digest(secret),
            user_id=user_id,
            kind=kind,
            label=label,
            client=terminal.client,
            agent=terminal.agent,
            seconds=seconds,
        )
        return secret

    async def logout(self, secret: str, terminal: Terminal) -> None:
        """End a session (audited)."""
        async with self.store.transaction() as tx:
            user = await self.store.end_session(staff.secret_digest(secret), tx)
            if user is None:
                raise NotAuthenticated("not_signed_in", "no live session")
            account = await self.store.staff(user)
            await tx.audit(
                at=self._now(),
                actor=user,
                action="logout",
                subject=user,
                municipality=account.municipality if account else None,
                terminal=terminal.as_dict(),
                detail={},
            )

    async def authenticate(self, secret: str | None) -> Staff:
        """The account behind a session or token; NotAuthenticated if none or disabled."""
        if not secret:
            raise NotAuthenticated("not_signed_in", "sign in or send a token")
        row = await self.store.session_staff(staff.secret_digest(secret))
        if row is None:
            raise NotAuthenticated("not_signed_in", "the session or token is unknown or ended")
        account = row.as_staff()
        if account.disabled:
            raise NotAuthenticated("account_disabled", "the account is disabled")
        return account

    async def staff_list(self) -> list[StaffRow]:
        """Every account (no password hashes)."""
        return await self.store.staff_list()


def _failure(row: StaffWithPassword | None, good: bool, locked: bool) -> str:
    """Why a log-in failed, for the audit row (never for the person trying)."""
    if row is None:
        return "unknown_user"
    if locked:
        return "locked_out"
    return "bad_password" if not good else "account_disabled"


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
