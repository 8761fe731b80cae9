"""Held messages: the approver's masked view, reveal, and the decisions (approve and
release exactly once, reject, expire), each in one transaction that locks the held row."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from contracts.broker import DELIVER_EXCHANGE, HEADER_KIND
from contracts.canonical import format_datetime
from contracts.codes import MyNumber
from contracts.envelope import Envelope, Recipient
from contracts.payloads import ApprovalAttestation, RejectionNotice
from contracts.signing import Signer
from hub import approvals
from hub.approvals import Held, HeldState, Role, Staff
from hub.desk.common import (
    HUB_ACTOR,
    DeskBase,
    DeskError,
    Forbidden,
    NotAuthenticated,
    NotFound,
    Refused,
    Terminal,
    clean_comment,
    message_uuid,
    refusing,
)
from hub.store.desk import DeskTransaction
from hub.store.rows import HeldMessage, HeldRow
from routing.decision import Context, Hold, decide
from routing.policy import Policy

__all__ = ["Decisions", "HeldView", "masked_view"]


@dataclass(frozen=True, slots=True)
class HeldView:
    """What an approver sees of a held message: its envelope, My Number masked."""

    row: HeldRow
    envelope: dict[str, Any]
    masked_paths: tuple[str, ...]
    content_sha256: str


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


class Decisions(DeskBase):
    """Held messages: list, show, reveal, approve, reject, expire."""

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
    ) -> tuple[list[HeldRow], int]:
        """A page of held messages of a municipality (no content) and the total."""
        code = municipality or who.municipality
        self._may_see(who, code)
        if state is not None and state not in {s.value for s in HeldState}:
            raise DeskError(
                "invalid_state", f"state: one of {', '.join(s.value for s in HeldState)}"
            )
        return await self.store.held_page(code, department, state, limit, offset)

    async def _message(self, message_id: str) -> HeldMessage:
        message = await self.store.held(message_uuid(message_id))
        if message is None:
            raise NotFound("not_found", "no held message with that id")
        return message

    async def show(self, who: Staff, message_id: str) -> HeldView:
        """A held message as its approver sees it: My Number masked."""
        message = await self._message(message_id)
        row = message.row
        self._may_see(who, row.municipality, admin_anywhere=False)
        deciding = Role.APPROVER in who.roles and who.department == row.department
        if not (deciding or who.roles & {Role.AUDITOR, Role.ADMIN}):
            if Role.APPROVER in who.roles:
                raise Forbidden("wrong_department", "the message belongs to another department")
            raise Forbidden("not_an_approver", "only its approvers and auditors see content")
        view, found = masked_view(message.canonical)
        digest = hashlib.sha256(message.canonical).hexdigest()
        return HeldView(row, view, tuple(sorted(found)), digest)

    async def reveal(self, who: Staff, message_id: str, terminal: Terminal) -> dict[str, str]:
        """The full My Numbers of a held message, for an approver allowed to reveal them;
        audited with who, when, where from and which fields (never the numbers)."""
        message = await self._message(message_id)
        row = message.row
        self._may_see(who, row.municipality, admin_anywhere=False)
        if Role.APPROVER not in who.roles or not who.may_reveal:
            raise Forbidden("may_not_reveal", "revealing My Number needs its own permission")
        if row.department != who.department:
            raise Forbidden("wrong_department", "the message belongs to another department")
        _, found = masked_view(message.canonical)
        async with self.store.transaction() as tx:
            await tx.audit(
                at=self._now(),
                actor=who.user_id,
                action="held.revealed",
                subject=row.message_id,
                municipality=row.municipality,
                terminal=terminal.as_dict(),
                detail={"fields": sorted(found)},
            )
        return found

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
            message = await self._locked(tx, message_id)
            row = message.row
            now = self._now()
            decided = refusing(lambda: approvals.approve(row.as_held(), who, now, comment))
            digest = hashlib.sha256(message.canonical).hexdigest()
            if content_sha256 is not None and content_sha256 != digest:
                raise Refused("content_changed", "the content differs from what was shown")
            original = Envelope.model_validate_json(message.canonical)
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
                row.journal_seq,
                row.message_id,
                DELIVER_EXCHANGE,
                row.routing_key,
                {HEADER_KIND: original.kind},
            )
            await tx.record([self._journal_entry(attestation)])
            released = approvals.release(decided)
            await tx.decide(
                row.message_id,
                released.state.value,
                decided_by=who.user_id,
                decided_at=now,
                comment=comment,
                content_sha256=digest,
                released_at=now,
            )
            await tx.provision(row.message_id, "released", now)
            for action in ("held.approved", "held.released"):
                await tx.audit(
                    at=now,
                    actor=who.user_id,
                    action=action,
                    subject=row.message_id,
                    municipality=row.municipality,
                    terminal=terminal.as_dict(),
                    detail={
                        "content_sha256": digest,
                        "attestation": str(attestation.id),
                        "comment": comment or "",
                    }
                    if action == "held.approved"
                    else {"routing_key": row.routing_key, "attestation": str(attestation.id)},
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
            message = await self._locked(tx, message_id)
            row = message.row
            now = self._now()
            decided = refusing(lambda: approvals.reject(row.as_held(), who, now, comment))
            await self._refuse(
                tx,
                signer=signer,
                message=message,
                decided=decided,
                code="rejected_by_approver",
                now=now,
            )
            await tx.audit(
                at=now,
                actor=who.user_id,
                action="held.rejected",
                subject=row.message_id,
                municipality=row.municipality,
                terminal=terminal.as_dict(),
                detail={"comment": comment},
            )
        return decided

    async def expire_due(self, limit: int = 100) -> int:
        """Expire held messages whose time ran out and notify their parties; how many."""
        signer = self._hub_signer()
        async with self.store.transaction() as tx:
            due = await tx.due(limit)
            for message, db_now in due:
                now = max(self._now(), db_now)
                expired = approvals.expire(message.row.as_held(), now)
                await self._refuse(
                    tx,
                    signer=signer,
                    message=message,
                    decided=expired,
                    code="approval_expired",
                    now=now,
                )
                await tx.audit(
                    at=now,
                    actor=HUB_ACTOR,
                    action="held.expired",
                    subject=message.row.message_id,
                    municipality=message.row.municipality,
                    detail={"expires_at": format_datetime(message.row.expires_at)},
                )
        return len(due)

    @staticmethod
    async def _locked(tx: DeskTransaction, message_id: str) -> HeldMessage:
        message = await tx.lock_held(message_uuid(message_id))
        if message is None:
            raise NotFound("not_found", "no held message with that id")
        return message

    async def _refuse(
        self,
        tx: DeskTransaction,
        *,
        signer: Signer,
        message: HeldMessage,
        decided: Held,
        code: str,
        now: datetime,
    ) -> None:
        original = Envelope.model_validate_json(message.canonical)
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
            self._journal_entry(
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
            message.row.message_id,
            decided.state.value,
            decided_by=decided.decided_by,
            decided_at=now,
            comment=decided.comment,
        )
        await tx.provision(message.row.message_id, decided.state.value, None)

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
