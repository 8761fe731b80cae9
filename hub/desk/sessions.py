"""Log-in, log-out and sessions: each try audited with its terminal and its true reason
(R29), throttled by account and by client address (`throttle.py` says how), only from the
account's registered terminals and, for a contractor, within its roster entry's days
(`access.py`, R26/R27, R23), and sessions that end once left unused for the idle timeout
(the accounts themselves are accounts.py).

A session or token used from an address that is not one of its account's terminals is
refused as an unknown one is (401 `not_signed_in`) and audited (`session.refused`); it
lives on for its owner at their own terminal. One whose contractor's roster entry is no
longer valid is ended at that request (`session.expired`, the reason `roster_expired`).

A session is marked used by the requests it authenticates (never by one it refuses), in
the database, so the idle timeout holds across desk processes; the mark is written at most
every TOUCH_SECONDS, so a page's burst of requests costs one row update, and a session may
end up to that much earlier than the timeout says. API tokens have no idle timeout: the
tools holding them run on their own schedule (a nightly batch), show nothing on a screen,
and are bounded by their own lifetime (desk.api_token_days) and by disabling their
account.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from hub import staff
from hub.approvals import Staff
from hub.desk.access import LoginRefusal, login_refusal, roster_refusal, terminal_refusal
from hub.desk.common import HUB_ACTOR, DeskBase, NotAuthenticated, Terminal
from hub.desk.throttle import LIMITS, LOCKOUT_SECONDS, Refusal, refusal
from hub.store.desk import DeskTransaction
from hub.store.rows import StaffRow, StaffWithPassword
from observability.metrics import Desk as DeskMetrics

__all__ = ["TOUCH_SECONDS", "Sessions"]

TOUCH_SECONDS = 10.0
_LOCKS = frozenset({"locked_out", "client_locked_out"})


class Sessions(DeskBase):
    """Log-in, log-out, and the account behind a session or token."""

    async def login(self, user_id: str, password: str, terminal: Terminal) -> tuple[str, Staff]:
        """Check a password and open a session: (session secret, account). A refusal
        says neither which part was wrong nor whether the account exists or is locked:
        an unknown id, a bad password, a disabled or a locked account, a terminal not the
        account's, a contractor outside its roster's days all answer alike, at the same
        cost (hub.desk.throttle). Only an address locked out is told so."""
        row = await self.store.staff(user_id) if staff.USER_ID.fullmatch(user_id) else None
        subject = row.user_id if row is not None else None
        now = self._now()
        good = await self._password_matches(row, password, terminal, now)
        digest = await _rehashed(row, password) if good else None
        async with self.store.transaction() as tx:
            locks = await tx.login_locks(subject, terminal.client, now, LIMITS)
            disabled = row is not None and row.disabled_at is not None
            throttled = refusal(locks, known=row is not None, good=good, disabled=disabled)
            reason = _login_refusal(row, throttled, terminal.client, now)
            if row is not None and reason is None:
                secret = await self._signed_in(tx, row, digest, terminal, now)
                DeskMetrics.logins.labels("ok").inc()
                return secret, row.as_staff()
            failed: LoginRefusal = reason or "unknown_user"  # no reason only with an account
            await self._audit_failure(tx, user_id, row, failed, terminal=terminal, now=now)
        raise _refused(failed)

    async def _password_matches(
        self, row: StaffWithPassword | None, password: str, terminal: Terminal, now: datetime
    ) -> bool:
        """Whether the password is the account's. argon2 takes tens of milliseconds of
        CPU: off the event loop, against a stand-in hash for an unknown id (the same
        cost), and not at all from an address locked out, which may keep trying for
        nothing (that lock is the address's whatever the account, so skipping tells
        nothing of it; the decision is taken again, under lock, before it counts)."""
        subject = row.user_id if row is not None else None
        early = await self.store.login_locks(subject, terminal.client, now, LIMITS)
        if early.client:
            return False
        stored = row.password_hash if row is not None else None
        return await asyncio.to_thread(staff.check_password, stored, password)

    async def _signed_in(
        self,
        tx: DeskTransaction,
        row: StaffWithPassword,
        digest: str | None,
        terminal: Terminal,
        now: datetime,
    ) -> str:
        secret = await self._open(
            tx, row.user_id, "session", None, terminal, seconds=self._session_seconds
        )
        if digest is not None:
            await self.store.set_password(tx, row.user_id, digest)
        await tx.audit(
            at=now,
            actor=row.user_id,
            action="login",
            subject=row.user_id,
            municipality=row.municipality,
            terminal=terminal.as_dict(),
            detail={},
        )
        return secret

    async def _audit_failure(
        self,
        tx: DeskTransaction,
        user_id: str,
        row: StaffWithPassword | None,
        reason: LoginRefusal,
        *,
        terminal: Terminal,
        now: datetime,
    ) -> None:
        """The failed try's audit row, with the reason the person trying is not told
        (an unknown id is not recorded: it may be a password typed in the wrong field)."""
        await tx.audit(
            at=now,
            actor=user_id if row is not None else "unknown",
            action="login.failed",
            subject=user_id if row is not None else None,
            municipality=row.municipality if row is not None else None,
            terminal=terminal.as_dict(),
            detail={"reason": reason},
        )

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

    async def authenticate(self, secret: str | None, terminal: Terminal) -> Staff:
        """The account behind a session or token used from `terminal`, which is marked
        used; NotAuthenticated if there is none, if it ended or was left unused for longer
        than the idle timeout (a session: it is ended then, and audited), if the account
        is disabled, if it is a contractor's outside its roster entry's days (ended,
        audited), or if `terminal` is not one of the account's (audited)."""
        if not secret:
            raise NotAuthenticated("not_signed_in", "sign in or send a token")
        digest = staff.secret_digest(secret)
        found = await self.store.session_staff(
            digest, idle_seconds=self._idle_seconds, touch_seconds=TOUCH_SECONDS
        )
        if found is None:
            raise _unknown_session()
        row, credential = found.account, found.credential
        if found.idle:
            await self._expire(digest, row, {"reason": "idle", "idle_seconds": self._idle_seconds})
            raise _unknown_session()
        account = row.as_staff()
        if account.disabled:
            raise NotAuthenticated("account_disabled", "the account is disabled")
        off_roster = roster_refusal(row.roles, row.roster, self._now())
        if off_roster is not None:
            await self._expire(digest, row, {"reason": off_roster, "credential": credential})
            raise _unknown_session()
        elsewhere = terminal_refusal(row.terminals, terminal.client)
        if elsewhere is not None:
            await self._refuse_use(row, credential, elsewhere, terminal)
            raise _unknown_session()
        if found.due:
            await self.store.touch_session(digest)
        return account

    async def _expire(self, digest: str, row: StaffRow, detail: dict[str, object]) -> None:
        """End a session left unused (or a contractor's credential past its roster
        entry), and audit it (once: of requests at once, the one that ends it)."""
        async with self.store.transaction() as tx:
            if await self.store.end_session(digest, tx) is None:
                return
            await tx.audit(
                at=self._now(),
                actor=HUB_ACTOR,
                action="session.expired",
                subject=row.user_id,
                municipality=row.municipality,
                detail=detail,
            )

    async def _refuse_use(
        self, row: StaffRow, credential: str, reason: str, terminal: Terminal
    ) -> None:
        """Audit a live session or token used from a terminal not its account's (R27)."""
        async with self.store.transaction() as tx:
            await tx.audit(
                at=self._now(),
                actor=row.user_id,
                action="session.refused",
                subject=row.user_id,
                municipality=row.municipality,
                terminal=terminal.as_dict(),
                detail={"reason": reason, "credential": credential},
            )


async def _rehashed(row: StaffWithPassword | None, password: str) -> str | None:
    """A new hash of the password when the account's was made under weaker parameters than
    today's: the one moment the password is at hand to hash it again."""
    if row is None or row.password_hash is None or not staff.needs_rehash(row.password_hash):
        return None
    return await asyncio.to_thread(staff.rehash, password)


def _login_refusal(
    row: StaffWithPassword | None, throttled: Refusal | None, client: str, now: datetime
) -> LoginRefusal | None:
    """The throttle's decision, then the account's terminals and roster (access.py)."""
    if row is None:
        return throttled
    return login_refusal(
        throttled,
        terminal=terminal_refusal(row.terminals, client),
        roster=roster_refusal(row.roles, row.roster, now),
    )


def _unknown_session() -> NotAuthenticated:
    return NotAuthenticated("not_signed_in", "the session or token is unknown or ended")


def _refused(reason: LoginRefusal) -> NotAuthenticated:
    """What the person trying is told: only an address lock is named."""
    DeskMetrics.logins.labels("locked_out" if reason in _LOCKS else "failed").inc()
    if reason == "client_locked_out":
        minutes = LOCKOUT_SECONDS // 60
        return NotAuthenticated(
            "too_many_attempts",
            f"too many failed log-ins from this address; try again in {minutes} minutes",
        )
    return NotAuthenticated(
        "login_failed",
        "user id or password is wrong, or the account is disabled or locked for a while",
    )
