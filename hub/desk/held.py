"""Decisions on held messages: approve and release exactly once, reject, expire, each in
one transaction that locks the held row (what an approver sees first is `viewing.py`)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from contracts.canonical import format_datetime
from contracts.envelope import Envelope, Recipient
from contracts.payloads import ApprovalAttestation, RejectionNotice, ReviewCopy
from contracts.signing import Signer
from hub import approvals
from hub.approvals import Held, Staff
from hub.desk.common import (
    HUB_ACTOR,
    DeskBase,
    Refused,
    Terminal,
    clean_comment,
    count_decisions,
    message_uuid,
    queue_release,
    refusing,
    unknown_message,
)
from hub.desk.review import Unreadable, readable
from hub.entries import JournalEntry
from hub.store.desk import DeskTransaction
from hub.store.rows import HeldMessage
from observability import tracing
from observability.metrics import Hub as HubMetrics
from routing.decision import Context, Hold, decide
from routing.policy import Policy

__all__ = ["Decisions"]

_REASONS = {
    "rejected_by_approver": "the 所属長 rejected the reply (R37)",
    "approval_expired": "nobody approved the reply in time (R37)",
}


@dataclass(frozen=True, slots=True)
class _Approval:
    """An approval being carried out: who, when, from where, and what they were shown."""

    who: Staff
    at: datetime
    terminal: Terminal
    comment: str | None
    content_sha256: str
    review: ReviewCopy


class Decisions(DeskBase):
    """Held messages: approve, reject, expire."""

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
        decision is audited, all in one transaction. Only what the approver can read is
        approved: a reply whose review copy does not open may only be rejected; the
        attestation carries the digest of the provision the review copy shows, which the
        inquirer checks what it opens against."""
        async with self._refusal_audited(who, "held.approval_refused", terminal, message_id):
            signer = self._hub_signer()
            refusing(lambda: approvals.may_decide_any(who))
            comment = clean_comment(comment)
            async with self.store.transaction() as tx:
                message = await self._locked(tx, message_id)
                now = self._now()
                if message.row.reason_code == approvals.MANUAL_IMPORT:  # R01: checked first
                    refusing(lambda: approvals.may_decide(message.row.as_held(), who, now))
                    raise Refused(
                        "sign_off_the_batch",
                        "a manual import is signed off as a batch once checked (/imports)",
                    )
                decided = refusing(
                    lambda: approvals.approve(message.row.as_held(), who, now, comment)
                )
                with _decision_span("approve", message):
                    original = Envelope.model_validate_json(message.journaled())
                    try:
                        review, view = readable(original, self._review_keys)
                    except Unreadable as exc:
                        raise Refused("unreadable", f"{exc}: reject it instead") from None
                    if content_sha256 is not None and content_sha256 != view.content_sha256:
                        raise Refused("content_changed", "the content differs from what was shown")
                    approval = _Approval(who, now, terminal, comment, view.content_sha256, review)
                    released = await self._release(tx, signer, message, decided, approval)
        count_decisions("approved", message, now)
        return released

    async def _release(
        self,
        tx: DeskTransaction,
        signer: Signer,
        message: HeldMessage,
        decided: Held,
        approval: _Approval,
    ) -> Held:
        """Queue the journaled bytes and the attestation, mark the row released, complete
        its 情報提供等記録 and audit the approval and the release."""
        row, now = message.row, approval.at
        original = Envelope.model_validate_json(message.journaled())
        attestation = self._attestation(signer, original, approval)
        await queue_release(tx, message, original.kind)
        await tx.record([self._journal_entry(attestation)])
        released = approvals.release(decided)
        await tx.decide(
            row.message_id,
            released.state.value,
            decided_by=approval.who.user_id,
            decided_at=now,
            comment=approval.comment,
            content_sha256=approval.content_sha256,
            released_at=now,
        )
        await tx.provision(row.message_id, "released", now)
        await _audit_release(tx, message, approval, str(attestation.id))
        return released

    def _attestation(self, signer: Signer, original: Envelope, approval: _Approval) -> Envelope:
        """The hub's signed word that `approval.who` approved this content, to the
        inquirer the review copy names (the one that opens the provision and checks it)."""
        payload = ApprovalAttestation(
            held_message_id=original.id,
            approver=approval.who.user_id,
            decided_at=approval.at,
            content_sha256=approval.content_sha256,
            comment=approval.comment or None,
        )
        review = approval.review
        recipient = Recipient(system=review.inquirer_system, municipality=review.inquirer)
        return self._hub_envelope(signer, original, payload, recipient, approval.at)

    async def reject(
        self, who: Staff, message_id: str, *, terminal: Terminal, comment: str
    ) -> Held:
        """Refuse a held message (a comment is required); its sender and its intended
        recipient get a rejection notice."""
        async with self._refusal_audited(who, "held.rejection_refused", terminal, message_id):
            signer = self._hub_signer()
            refusing(lambda: approvals.may_decide_any(who))
            comment = clean_comment(comment) or ""
            async with self.store.transaction() as tx:
                message = await self._locked(tx, message_id)
                row = message.row
                now = self._now()
                decided = refusing(lambda: approvals.reject(row.as_held(), who, now, comment))
                with _decision_span("reject", message):
                    await self._refuse(
                        tx, signer, message, decided, code="rejected_by_approver", now=now
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
        count_decisions("rejected", message, now)
        return decided

    async def expire_due(self, limit: int = 100) -> int:
        """Expire held messages whose time ran out and notify their parties; how many."""
        signer = self._hub_signer()
        async with self.store.transaction() as tx:
            due = await tx.due(limit)
            for message, db_now in due:
                now = max(self._now(), db_now)
                expired = approvals.expire(message.row.as_held(), now)
                await self._refuse(tx, signer, message, expired, code="approval_expired", now=now)
                await tx.audit(
                    at=now,
                    actor=HUB_ACTOR,
                    action="held.expired",
                    subject=message.row.message_id,
                    municipality=message.row.municipality,
                    detail={"expires_at": format_datetime(message.row.expires_at)},
                )
        for message, db_now in due:
            count_decisions("expired", message, max(self._now(), db_now))
            HubMetrics.expired.labels(message.row.municipality).inc()
        return len(due)

    @staticmethod
    async def _locked(tx: DeskTransaction, message_id: str) -> HeldMessage:
        message = await tx.lock_held(message_uuid(message_id))
        if message is None:
            raise unknown_message()
        return message

    async def _refuse(
        self,
        tx: DeskTransaction,
        signer: Signer,
        message: HeldMessage,
        decided: Held,
        *,
        code: str,
        now: datetime,
    ) -> None:
        """Notify the parties, write the decision and close the 情報提供等記録."""
        original = Envelope.model_validate_json(message.journaled())
        await tx.record(self._notices(signer, original, code, now))
        await tx.decide(
            message.row.message_id,
            decided.state.value,
            decided_by=decided.decided_by,
            decided_at=now,
            comment=decided.comment,
        )
        await tx.provision(message.row.message_id, decided.state.value, None)

    def _notices(
        self, signer: Signer, original: Envelope, code: str, now: datetime
    ) -> list[JournalEntry]:
        """A signed rejection notice for each party: the sender learns its reply did not
        go; the inquirer stops waiting for it."""
        parties = {
            (original.sender.system, original.municipality),
            (original.recipient.system, original.recipient.municipality),
        }
        notice = RejectionNotice(
            rejected_message_id=original.id,
            reason_code=code,
            reason=_REASONS[code],
            rejected_at=now,
        )
        return [
            self._journal_entry(
                self._hub_envelope(
                    signer,
                    original,
                    notice,
                    Recipient(system=system, municipality=municipality),
                    now,
                )
            )
            for system, municipality in sorted(parties)
        ]

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


async def _audit_release(
    tx: DeskTransaction, message: HeldMessage, approval: _Approval, attestation: str
) -> None:
    """The two audit rows of an approval: what was approved, then where it went."""
    row = message.row
    audit = partial(
        tx.audit,
        at=approval.at,
        actor=approval.who.user_id,
        subject=row.message_id,
        municipality=row.municipality,
        terminal=approval.terminal.as_dict(),
    )
    approved = {
        "content_sha256": approval.content_sha256,
        "attestation": attestation,
        "comment": approval.comment or "",
    }
    await audit(action="held.approved", detail=approved)
    await audit(
        action="held.released", detail={"routing_key": row.routing_key, "attestation": attestation}
    )


def _decision_span(action: str, message: HeldMessage) -> AbstractContextManager[object]:
    """The span of a decision on a held message: in the desk request's trace, linked to
    the held message's own (its sender's traceparent, which the journal keeps)."""
    original = Envelope.model_validate_json(message.journaled())
    return tracing.tracer().start_as_current_span(
        f"{action} held message",
        links=tracing.link_to(original.traceparent),
        attributes={
            "messaging.message.id": message.row.message_id,
            "sesshu.kind": original.kind,
            # From the start, so the sampler keeps every decision (tracing.KEPT_DECISIONS).
            "sesshu.decision": _DECIDED[action],
        },
    )


_DECIDED = {"approve": "approved", "reject": "rejected"}
