"""The approval desk: staff sign in, approvers decide held messages, auditors search the
trail. The HTTP API, the approver page and the CLI all go through `Desk`, so a rule holds
(and is audited) the same way whichever door a person uses.

Every act is written to the audit chain in the transaction that does it: a decision, a
release, a reveal, a log-in (and a failed one), a log-out, an account change. A decision
locks its held row, so two approvers clicking at once are served in turn and the message
is released once; the release queues the journaled bytes and the hub's signed approval
attestation in the outbox, which the relay publishes.
"""

from __future__ import annotations

import asyncio
import getpass
import hashlib
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from contracts.broker import DELIVER_EXCHANGE, HEADER_KIND
from contracts.codes import LocalGovCode, MyNumber, SystemId, looks_like_my_number
from contracts.envelope import Envelope, Party, Recipient
from contracts.keys import KeyRing
from contracts.payloads import ApprovalAttestation, Payload, RejectionNotice
from contracts.signing import Signer
from hub import approvals, audit, staff
from hub.approvals import ApprovalRefused, Held, HeldState, Role, Staff
from hub.pipeline import JournalEntry
from hub.settings import Settings
from hub.store.desk import DeskTransaction, PgDesk
from hub.store.postgres import ensure_database
from routing.decision import Context, Hold, decide
from routing.policy import Policy, load_policy

__all__ = [
    "HUB_ACTOR",
    "Desk",
    "DeskError",
    "Forbidden",
    "HeldView",
    "NotAuthenticated",
    "NotFound",
    "Terminal",
    "cli_actor",
    "cli_terminal",
    "open_desk",
]

HUB_ACTOR = "system:hub"
# Five failed log-ins of an account within 15 minutes lock it for the rest of the window.
LOCKOUT_FAILURES = 5
LOCKOUT_SECONDS = 15 * 60
COMMENT_MAX = 500
JOURNAL_SEALED = "journal.sealed"
HUB_INSTANCE = "hub-desk"


class DeskError(Exception):
    """A request the desk refuses; `code` is stable, the message never holds personal data."""

    status = 400

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


class NotAuthenticated(DeskError):
    """No live session or token, or a disabled account."""

    status = 401


class Forbidden(DeskError):
    """Signed in, but not allowed this (role, municipality, department, permission)."""

    status = 403


class NotFound(DeskError):
    """No such held message."""

    status = 404


class Refused(DeskError):
    """The approval rules refuse the decision (four eyes, not held, expired, ...)."""

    status = 409


@dataclass(frozen=True, slots=True)
class Terminal:
    """Where a person acted from (R29): client address and user agent."""

    client: str
    agent: str

    def as_dict(self) -> dict[str, str]:
        """For the audit row."""
        return {"client": self.client[:100], "agent": self.agent[:300]}


def cli_terminal() -> Terminal:
    """The terminal of a command-line act: this host, and the OS user running it."""
    return Terminal(f"cli@{socket.gethostname()}", f"sesshu ({cli_actor()})")


def cli_actor() -> str:
    """Who an account change made from the command line is recorded as: the OS user."""
    try:
        return "os:" + getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for this uid
        return f"os:uid-{os.getuid()}"


@dataclass(frozen=True, slots=True)
class HeldView:
    """What an approver sees of a held message: its envelope, My Number masked."""

    row: dict[str, Any]
    envelope: dict[str, Any]
    masked_paths: tuple[str, ...]
    content_sha256: str


def _staff(row: Mapping[str, Any]) -> Staff:
    return Staff(
        user_id=row["user_id"],
        roles=frozenset(Role(r) for r in row["roles"]),
        municipality=row["municipality"],
        department=row["department"],
        disabled=row["disabled_at"] is not None,
        may_reveal=row["may_reveal"],
    )


def _held(row: Mapping[str, Any]) -> Held:
    return Held(
        message_id=row["message_id"],
        municipality=row["municipality"],
        department=row["department"],
        originated_by=row["originated_by"],
        held_at=row["held_at"],
        expires_at=row["expires_at"],
        state=HeldState(row["state"]),
        decided_by=row["decided_by"],
        decided_at=row["decided_at"],
        comment=row["comment"],
    )


def _masked(value: object, document: object, path: str, found: dict[str, str]) -> object:
    """`document` (the JSON form of `value`) with every My Number masked; `found` gets the
    full numbers by path."""
    if isinstance(value, MyNumber):
        found[path] = value.reveal()
        return value.masked()
    if isinstance(value, BaseModel) and isinstance(document, dict):
        return {
            key: _masked(getattr(value, key, None), item, f"{path}.{key}", found)
            for key, item in document.items()
        }
    if isinstance(value, tuple | list) and isinstance(document, list):
        return [
            _masked(v, d, f"{path}[{i}]", found)
            for i, (v, d) in enumerate(zip(value, document, strict=False))
        ]
    return document


def masked_view(canonical: bytes) -> tuple[dict[str, Any], dict[str, str]]:
    """(the envelope as JSON with My Numbers masked, {path: full number})."""
    envelope = Envelope.model_validate_json(canonical)
    found: dict[str, str] = {}
    document = envelope.model_dump(mode="json")
    view = _masked(envelope, document, "$", found)
    if not isinstance(view, dict):  # pragma: no cover - an envelope dumps to an object
        raise TypeError("an envelope's JSON form is an object")
    return view, found


async def open_desk(settings: Settings, *, pool_size: int = 2) -> Desk:
    """The approval desk on its own small pool (creating and migrating the database)."""
    dsn = settings.database.url.get_secret_value()
    await ensure_database(dsn)
    store = await PgDesk.connect(
        dsn, size=pool_size, command_timeout=settings.database.command_timeout_seconds
    )
    return Desk(
        store,
        settings.signing.hub_signer(),
        policy_version=load_policy(settings.routing.directory()).version,
        session_seconds=settings.desk.session_hours * 3600,
    )


class Desk:
    """Sessions, held-message decisions and the audit trail, on the desk's store."""

    def __init__(
        self,
        store: PgDesk,
        signer: Signer | None,
        *,
        policy_version: str,
        session_seconds: float = 8 * 3600,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self._signer = signer
        self._policy_version = policy_version
        self._session_seconds = session_seconds
        self._now = clock

    # -- accounts ---------------------------------------------------------------------

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
        if not staff.USER_ID.fullmatch(user_id):
            raise DeskError("invalid_user_id", "user id: 2-64 of a-z 0-9 . _ - (no names)")
        code = str(LocalGovCode(municipality))
        if not staff.USER_ID.fullmatch(department):
            raise DeskError("invalid_department", "department: 2-64 of a-z 0-9 . _ -")
        if not roles:
            raise DeskError("invalid_roles", "roles: at least one role")
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
                municipality=known["municipality"],
                detail={"sessions_ended": ended},
            )
        return ended

    async def account(self, user_id: str) -> Staff:
        """An account by id, for a tool acting as it; NotAuthenticated if unknown or
        disabled."""
        row = await self.store.staff(user_id)
        if row is None:
            raise NotAuthenticated("no_such_user", f"user {user_id} does not exist")
        account = _staff(row)
        if account.disabled:
            raise NotAuthenticated("account_disabled", f"user {user_id} is disabled")
        return account

    async def issue_token(
        self, user_id: str, *, label: str, days: float, actor: str | None = None
    ) -> str:
        """A new API token for an account; only its digest is kept."""
        row = await self.store.staff(user_id)
        if row is None or row["disabled_at"] is not None:
            raise DeskError("no_such_user", f"user {user_id} does not exist or is disabled")
        secret = staff.new_secret()
        async with self.store.transaction() as tx:
            await self.store.add_session(
                tx,
                digest=staff.secret_digest(secret),
                user_id=user_id,
                kind="api_token",
                label=label,
                client=cli_terminal().client,
                agent=cli_terminal().agent,
                seconds=days * 86400,
            )
            await tx.audit(
                at=self._now(),
                actor=actor or cli_actor(),
                action="token.issued",
                subject=user_id,
                municipality=row["municipality"],
                detail={"label": label, "days": days},
            )
        return secret

    async def login(self, user_id: str, password: str, terminal: Terminal) -> tuple[str, Staff]:
        """Check a password and open a session: (session secret, account). Every try is
        audited with the terminal (R29); a failure does not say which part was wrong."""
        row = await self.store.staff(user_id) if staff.USER_ID.fullmatch(user_id) else None
        # argon2 takes tens of milliseconds of CPU: off the event loop.
        good = await asyncio.to_thread(
            staff.check_password, row["password_hash"] if row else None, password
        )
        now = self._now()
        locked = row is not None and (
            await self.store.failed_logins(user_id, LOCKOUT_SECONDS) >= LOCKOUT_FAILURES
        )
        if row is None or not good or locked or row["disabled_at"] is not None:
            reason = (
                "unknown_user"
                if row is None
                else "locked_out"
                if locked
                else ("bad_password" if not good else "account_disabled")
            )
            async with self.store.transaction() as tx:
                await tx.audit(
                    at=now,
                    actor=user_id if row is not None else "unknown",
                    action="login.failed",
                    subject=user_id if row is not None else None,
                    municipality=row["municipality"] if row is not None else None,
                    terminal=terminal.as_dict(),
                    detail={"reason": reason},
                )
            if locked:
                raise NotAuthenticated(
                    "too_many_attempts", "too many failed log-ins; try again in 15 minutes"
                )
            raise NotAuthenticated("login_failed", "user id or password is wrong, or disabled")
        secret = staff.new_secret()
        async with self.store.transaction() as tx:
            await self.store.add_session(
                tx,
                digest=staff.secret_digest(secret),
                user_id=user_id,
                kind="session",
                label=None,
                client=terminal.client,
                agent=terminal.agent,
                seconds=self._session_seconds,
            )
            await tx.audit(
                at=now,
                actor=user_id,
                action="login",
                subject=user_id,
                municipality=row["municipality"],
                terminal=terminal.as_dict(),
                detail={},
            )
        return secret, _staff(row)

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
                municipality=account["municipality"] if account else None,
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
        account = _staff(row)
        if account.disabled:
            raise NotAuthenticated("account_disabled", "the account is disabled")
        return account

    async def staff_list(self) -> list[dict[str, Any]]:
        """Every account (no password hashes)."""
        return await self.store.staff_list()

    # -- held messages ----------------------------------------------------------------

    @staticmethod
    def _may_see(who: Staff, municipality: str, *, admin_anywhere: bool = True) -> None:
        # Admins may list any municipality's queue; content stays within one's own.
        if who.disabled:
            raise NotAuthenticated("account_disabled", "the account is disabled")
        if municipality != who.municipality and not (admin_anywhere and Role.ADMIN in who.roles):
            raise Forbidden("wrong_municipality", "the message belongs to another municipality")

    async def held_list(
        self,
        who: Staff,
        *,
        municipality: str | None = None,
        state: str | None = "held",
        department: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        """A page of held messages of a municipality (no content) and the total."""
        code = municipality or who.municipality
        self._may_see(who, code)
        if state is not None and state not in {s.value for s in HeldState}:
            raise DeskError(
                "invalid_state", f"state: one of {', '.join(s.value for s in HeldState)}"
            )
        return await self.store.held_page(code, department, state, limit, offset)

    async def _row(self, message_id: str) -> dict[str, Any]:
        row = await self.store.held(_uuid(message_id))
        if row is None:
            raise NotFound("not_found", "no held message with that id")
        return row

    async def show(self, who: Staff, message_id: str) -> HeldView:
        """A held message as its approver sees it: My Number masked."""
        row = await self._row(message_id)
        self._may_see(who, row["municipality"], admin_anywhere=False)
        deciding = Role.APPROVER in who.roles and who.department == row["department"]
        if not (deciding or who.roles & {Role.AUDITOR, Role.ADMIN}):
            if Role.APPROVER in who.roles:
                raise Forbidden("wrong_department", "the message belongs to another department")
            raise Forbidden("not_an_approver", "only its approvers and auditors see content")
        canonical = bytes(row.pop("canonical"))
        view, found = masked_view(canonical)
        return HeldView(row, view, tuple(sorted(found)), hashlib.sha256(canonical).hexdigest())

    async def reveal(self, who: Staff, message_id: str, terminal: Terminal) -> dict[str, str]:
        """The full My Numbers of a held message, for an approver allowed to reveal them;
        audited with who, when, where from and which fields (never the numbers)."""
        row = await self._row(message_id)
        self._may_see(who, row["municipality"], admin_anywhere=False)
        if Role.APPROVER not in who.roles or not who.may_reveal:
            raise Forbidden("may_not_reveal", "revealing My Number needs its own permission")
        if row["department"] != who.department:
            raise Forbidden("wrong_department", "the message belongs to another department")
        _, found = masked_view(bytes(row["canonical"]))
        async with self.store.transaction() as tx:
            await tx.audit(
                at=self._now(),
                actor=who.user_id,
                action="held.revealed",
                subject=row["message_id"],
                municipality=row["municipality"],
                terminal=terminal.as_dict(),
                detail={"fields": sorted(found)},
            )
        return found

    def _hub_signer(self) -> Signer:
        if self._signer is None:
            raise DeskError(
                "no_hub_key", "the hub has no signing key (SESSHU_SIGNING__HUB_KEY_FILE)"
            )
        return self._signer

    async def approve(
        self,
        who: Staff,
        message_id: str,
        *,
        terminal: Terminal,
        comment: str | None = None,
        content_sha256: str | None = None,
    ) -> Held:
        """Approve and release a held message, exactly once: the held row is locked, the
        journaled bytes and a signed approval attestation go to the outbox, and the
        decision is audited, all in one transaction."""
        signer = self._hub_signer()
        comment = clean_comment(comment)
        async with self.store.transaction() as tx:
            row = await self._locked(tx, message_id)
            now = self._now()
            decided = _refusing(lambda: approvals.approve(_held(row), who, now, comment))
            canonical = bytes(row["canonical"])
            digest = hashlib.sha256(canonical).hexdigest()
            if content_sha256 is not None and content_sha256 != digest:
                raise Refused("content_changed", "the content differs from what was shown")
            original = Envelope.model_validate_json(canonical)
            attestation = self._hub_envelope(
                signer,
                original,
                ApprovalAttestation(
                    held_message_id=original.id,
                    approver=who.user_id,
                    decided_at=now,
                    content_sha256=digest,
                    comment=comment or None,
                ),
                Recipient(
                    system=original.recipient.system, municipality=original.recipient.municipality
                ),
                now,
            )
            await tx.release(
                row["journal_seq"],
                row["message_id"],
                DELIVER_EXCHANGE,
                row["routing_key"],
                {HEADER_KIND: original.kind},
            )
            await tx.record([self._entry(attestation)])
            released = approvals.release(decided)
            await tx.decide(
                row["message_id"],
                released.state.value,
                decided_by=who.user_id,
                decided_at=now,
                comment=comment,
                content_sha256=digest,
                released_at=now,
            )
            await tx.provision(row["message_id"], "released", now)
            for action in ("held.approved", "held.released"):
                await tx.audit(
                    at=now,
                    actor=who.user_id,
                    action=action,
                    subject=row["message_id"],
                    municipality=row["municipality"],
                    terminal=terminal.as_dict(),
                    detail={
                        "content_sha256": digest,
                        "attestation": str(attestation.id),
                        "comment": comment or "",
                    }
                    if action == "held.approved"
                    else {"routing_key": row["routing_key"], "attestation": str(attestation.id)},
                )
        return released

    async def reject(
        self, who: Staff, message_id: str, *, terminal: Terminal, comment: str
    ) -> Held:
        """Refuse a held message (a comment is required); its sender and its intended
        recipient get a rejection notice."""
        signer = self._hub_signer()
        comment = clean_comment(comment) or ""
        async with self.store.transaction() as tx:
            row = await self._locked(tx, message_id)
            now = self._now()
            decided = _refusing(lambda: approvals.reject(_held(row), who, now, comment))
            await self._refuse(
                tx, signer=signer, row=row, decided=decided, code="rejected_by_approver", now=now
            )
            await tx.audit(
                at=now,
                actor=who.user_id,
                action="held.rejected",
                subject=row["message_id"],
                municipality=row["municipality"],
                terminal=terminal.as_dict(),
                detail={"comment": comment},
            )
        return decided

    async def expire_due(self, limit: int = 100) -> int:
        """Expire held messages whose time ran out and notify their parties; how many."""
        signer = self._hub_signer()
        async with self.store.transaction() as tx:
            rows = await tx.due(limit)
            for row in rows:
                now = max(self._now(), row["db_now"])
                expired = approvals.expire(_held(row), now)
                await self._refuse(
                    tx, signer=signer, row=row, decided=expired, code="approval_expired", now=now
                )
                await tx.audit(
                    at=now,
                    actor=HUB_ACTOR,
                    action="held.expired",
                    subject=row["message_id"],
                    municipality=row["municipality"],
                    detail={"expires_at": audit_time(row["expires_at"])},
                )
        return len(rows)

    @staticmethod
    async def _locked(tx: DeskTransaction, message_id: str) -> dict[str, Any]:
        row = await tx.lock_held(_uuid(message_id))
        if row is None:
            raise NotFound("not_found", "no held message with that id")
        return row

    async def _refuse(
        self,
        tx: DeskTransaction,
        *,
        signer: Signer,
        row: Mapping[str, Any],
        decided: Held,
        code: str,
        now: datetime,
    ) -> None:
        original = Envelope.model_validate_json(bytes(row["canonical"]))
        reason = (
            "the 所属長 rejected the reply (R37)"
            if code == "rejected_by_approver"
            else "nobody approved the reply in time (R37)"
        )
        # The sender learns its reply did not go; the inquirer stops waiting for it.
        parties = {
            (original.sender.system, original.municipality),
            (original.recipient.system, original.recipient.municipality),
        }
        entries = [
            self._entry(
                self._hub_envelope(
                    signer,
                    original,
                    RejectionNotice(
                        rejected_message_id=original.id,
                        reason_code=code,
                        reason=reason,
                        rejected_at=now,
                    ),
                    Recipient(system=system, municipality=municipality),
                    now,
                )
            )
            for system, municipality in sorted(parties)
        ]
        await tx.record(entries)
        await tx.decide(
            row["message_id"],
            decided.state.value,
            decided_by=decided.decided_by,
            decided_at=now,
            comment=decided.comment,
        )
        await tx.provision(row["message_id"], decided.state.value, None)

    def _hub_envelope(
        self,
        signer: Signer,
        original: Envelope,
        payload: Payload,
        recipient: Recipient,
        now: datetime,
    ) -> Envelope:
        envelope = Envelope.new(
            payload=payload,
            municipality=original.municipality,
            sender=Party(system=SystemId.HUB, instance=HUB_INSTANCE),
            recipient=recipient,
            procedure=original.procedure,
            data_items=original.data_items,
            key_id=signer.key_id,
            correlation_id=original.correlation_id,
            causation_id=original.id,
            traceparent=original.traceparent,
            sent_at=now,
        )
        return signer.sign(envelope)

    def _entry(self, envelope: Envelope) -> JournalEntry:
        return JournalEntry(
            dedupe_key=f"id:{envelope.id}",
            canonical=envelope.to_bytes(),
            decision="deliver",
            policy_version=self._policy_version,
            message_id=str(envelope.id),
            kind=envelope.kind,
            sender_system=envelope.sender.system.value,
            sender_instance=envelope.sender.instance,
            recipient_system=envelope.recipient.system.value,
            recipient_municipality=str(envelope.recipient.municipality),
            municipality=str(envelope.municipality),
            procedure=str(envelope.procedure),
            correlation_id=str(envelope.correlation_id),
            causation_id=str(envelope.causation_id),
            key_id=envelope.key_id,
            sent_at=envelope.sent_at,
            signature=envelope.signature,
            exchange=DELIVER_EXCHANGE,
            routing_key=envelope.recipient.routing_key,
            headers={HEADER_KIND: envelope.kind},
        )

    # -- audit trail ------------------------------------------------------------------

    async def audit_search(
        self,
        who: Staff,
        *,
        actor: str | None = None,
        action: str | None = None,
        subject: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[audit.AuditRow]:
        """Audit rows, newest first: auditors see their municipality's, admins all."""
        if not (who.roles & {Role.AUDITOR, Role.ADMIN}):
            raise Forbidden("not_an_auditor", "only auditors and admins search the audit log")
        municipality = None if Role.ADMIN in who.roles else who.municipality
        return await self.store.audit_search(
            actor=actor,
            action=action,
            subject=subject,
            municipality=municipality,
            since=since,
            limit=limit,
            offset=offset,
        )

    async def checkpoint(self) -> audit.Checkpoint | None:
        """Sign the chain's head if it moved since the last checkpoint."""
        signer = self._hub_signer()
        async with self.store.transaction() as tx:
            head = await tx.head()
            if head is None:
                return None
            checkpoint = audit.sign_checkpoint(signer, head[0], head[1], self._now())
            await tx.checkpoint(checkpoint)
        return checkpoint

    async def verify(self, ring: KeyRing) -> tuple[int, audit.Finding | None]:
        """Recompute the whole chain, check every checkpoint, then every journal seal."""
        rows = [row async for row in self.store.audit_rows()]
        count, finding = audit.verify(rows, await self.store.checkpoints(), ring)
        if finding is not None:
            return count, finding
        async with self.store.transaction() as tx:
            for row in rows:
                if row.action != JOURNAL_SEALED:
                    continue
                after, upto = int(row.detail["after_seq"]), int(row.detail["upto_seq"])
                found, digest = await tx.journal_digest(after, upto)
                if (found, digest) != (row.detail["rows"], row.detail["sha256"]):
                    return count, audit.Finding(
                        row.seq,
                        "journal",
                        f"journal rows {after + 1}-{upto} changed, removed or inserted since "
                        f"this row sealed them ({found} rows now, {row.detail['rows']} sealed)",
                    )
        return count, None

    async def seal_journal(self, lag_seconds: float, most: int = 20_000) -> audit.AuditRow | None:
        """Append a seal of the journal rows received since the last seal (at least
        `lag_seconds` ago, at most `most` of them) to the audit chain: every routing
        decision becomes as tamper-evident as the audit log. None if nothing is new.

        The digest is computed before the append lock is taken, so hashing never holds up
        a decision; if another process sealed meanwhile, this one gives way."""
        last = await self.store.last_detail(JOURNAL_SEALED)
        after = int(last["upto_seq"]) if last else 0
        async with self.store.transaction() as tx:
            upto = await tx.journal_upto(after, lag_seconds)
            if upto is None:
                return None
            upto = min(upto, after + most)
            rows, digest = await tx.journal_digest(after, upto)
        async with self.store.transaction() as tx:
            await tx.lock_audit()
            now_last = await tx.last_detail(JOURNAL_SEALED)
            if (int(now_last["upto_seq"]) if now_last else 0) != after:
                return None
            return await tx.audit(
                at=self._now(),
                actor=HUB_ACTOR,
                action=JOURNAL_SEALED,
                detail={"after_seq": after, "upto_seq": upto, "rows": rows, "sha256": digest},
            )

    async def backfill_departments(self, policy: Policy, context: Context) -> int:
        """Held rows from before held messages had a department get the one the policy in
        force names for them (nobody could decide them otherwise); how many."""
        done = 0
        for message_id, canonical in await self.store.held_without_department():
            decision = decide(Envelope.model_validate_json(canonical), policy, context)
            if isinstance(decision, Hold):
                await self.store.set_department(message_id, decision.department)
                done += 1
        return done

    async def record_change(self, action: str, detail: Mapping[str, Any]) -> bool:
        """Audit a policy or key-ring change the hub starts with; False if unchanged."""
        if await self.store.last_detail(action) == dict(detail):
            return False
        async with self.store.transaction() as tx:
            await tx.audit(at=self._now(), actor=HUB_ACTOR, action=action, detail=detail)
        return True


def audit_time(moment: datetime) -> str:
    """A time in an audit detail: the wire form."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def clean_comment(comment: str | None) -> str | None:
    """An approver's comment, stripped; refused if too long, if it holds control
    characters, or if it holds anything that looks like a My Number (comments go into the
    audit log and the attestation, where personal data must not)."""
    if comment is None or not comment.strip():
        return None
    text = comment.strip()
    if len(text) > COMMENT_MAX:
        raise DeskError("invalid_comment", f"comment: at most {COMMENT_MAX} characters")
    if any(ord(c) < 32 and c not in "\n\t" for c in text):
        raise DeskError("invalid_comment", "comment: control characters are not allowed")
    digits = "".join(c if c.isascii() and c.isdigit() else " " for c in text)
    if any(looks_like_my_number(run) for run in digits.split() if len(run) == 12):
        raise DeskError("invalid_comment", "comment: must not contain a My Number")
    return text


def _uuid(value: str) -> str:
    try:
        return str(UUID(value))
    except ValueError:
        raise NotFound("not_found", "no held message with that id") from None


def _refusing(decide: Callable[[], Held]) -> Held:
    try:
        return decide()
    except ApprovalRefused as exc:
        status = Forbidden if exc.code in _FORBIDDEN else Refused
        raise status(exc.code, exc.reason) from None


_FORBIDDEN = frozenset(
    {"account_disabled", "not_an_approver", "wrong_municipality", "wrong_department", "four_eyes"}
)
