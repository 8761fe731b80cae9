"""Held messages as their approvers and auditors see them: the queue (no content), a held
message's facts (who sent it where, under which procedure; never its ciphertext), and, for
an approver of its municipality and department alone, its review copy opened and laid out
as a person reads it (`review`), My Number masked, with the digest an approval attests.
Every view is audited (R17), and so is a reveal of My Number."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contracts.envelope import Envelope
from hub.approvals import HeldState, Role, Staff
from hub.desk.common import (
    DeskBase,
    DeskError,
    Forbidden,
    NotAuthenticated,
    Terminal,
    message_uuid,
    unknown_message,
)
from hub.desk.review import ReviewView, Unreadable, readable
from hub.store.rows import HeldMessage, HeldRow

__all__ = ["HeldView", "Viewing", "envelope_facts"]


@dataclass(frozen=True, slots=True)
class HeldView:
    """What its viewer sees of a held message: the envelope's facts and, for its
    approvers, the review copy laid out (`review`), or why it cannot be read."""

    row: HeldRow
    envelope: dict[str, Any]
    review: ReviewView | None
    unreadable: str | None
    """Why an approver cannot read the review copy (so it may only be rejected)."""

    @property
    def masked_paths(self) -> tuple[str, ...]:
        """Where My Number is masked in the review copy."""
        return () if self.review is None else tuple(sorted(self.review.my_numbers))

    @property
    def content_sha256(self) -> str | None:
        """The digest of the provision the approver reads: what an approval attests."""
        return None if self.review is None else self.review.content_sha256


def envelope_facts(envelope: Envelope) -> dict[str, Any]:
    """The envelope as JSON but for what only its recipients read: the sealed payload and
    review copy appear as the keys they are sealed to, never as their ciphertext."""
    document = envelope.model_dump(mode="json", exclude={"signature"})
    for member in ("payload", "review"):
        sealed = document.get(member)
        if isinstance(sealed, dict) and sealed.get("kind") == "sealed":
            document[member] = {"sealed_to": sealed["recipient_key_id"]}
    return document


PRUNED = "its bytes were removed after their retention period (README, Retention)"


def _pruned_facts(row: HeldRow) -> dict[str, Any]:
    """What is left to show of a message whose bytes retention removed: its journal row."""
    return {
        "kind": row.kind,
        "procedure": row.procedure,
        "sender": {"system": row.sender_system, "municipality": row.sender_municipality},
        "payload": "pruned",
    }


_VIEWERS = frozenset({Role.APPROVER, Role.AUDITOR, Role.ADMIN})


class Viewing(DeskBase):
    """Held messages: list, show, reveal."""

    @staticmethod
    def _may_view_any(who: Staff) -> None:
        # Checked before any message is looked up: the refusal tells nothing of one.
        if who.disabled:
            raise NotAuthenticated("account_disabled", "the account is disabled")
        if not who.roles & _VIEWERS:
            raise Forbidden("not_an_approver", "only approvers, auditors and admins see them")

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
        """A page of held messages of a municipality (no content) and the total: an
        approver's own department's (the default), any department's for an auditor, any
        municipality's for an admin."""
        self._may_view_any(who)
        code = municipality or who.municipality
        if code != who.municipality and Role.ADMIN not in who.roles:
            raise Forbidden("wrong_municipality", "the queue of another municipality")
        if not who.roles & {Role.AUDITOR, Role.ADMIN}:
            if department not in (None, who.department):
                raise Forbidden("wrong_department", "an approver's queue is their department's")
            department = who.department
        if state is not None and state not in {s.value for s in HeldState}:
            raise DeskError(
                "invalid_state", f"state: one of {', '.join(s.value for s in HeldState)}"
            )
        return await self.store.held_page(code, department, state, limit, offset)

    async def _message(self, message_id: str) -> HeldMessage:
        message = await self.store.held(message_uuid(message_id))
        if message is None:
            raise unknown_message()
        return message

    async def show(self, who: Staff, message_id: str, terminal: Terminal) -> HeldView:
        """A held message as `who` may see it, audited: its facts for an auditor or an
        admin of the municipality; the review copy too for one of its approvers. Another
        municipality's, or for an approver another department's, is not found."""
        async with self._refusal_audited(who, "held.view_refused", terminal, message_id):
            self._may_view_any(who)
            message = await self._message(message_id)
            row = message.row
            deciding = Role.APPROVER in who.roles and who.department == row.department
            if row.municipality != who.municipality or not (
                deciding or who.roles & {Role.AUDITOR, Role.ADMIN}
            ):
                raise unknown_message()
            if message.canonical is None:  # decided long ago; retention removed its bytes
                return await self._shown(
                    who, row, terminal, facts=_pruned_facts(row), review=None, unreadable=PRUNED
                )
            envelope = Envelope.model_validate_json(message.canonical)
            review, unreadable = None, None
            if deciding:
                try:
                    _, review = readable(envelope, self._review_keys)
                except Unreadable as exc:
                    unreadable = str(exc)
            facts = envelope_facts(envelope)
            return await self._shown(
                who, row, terminal, facts=facts, review=review, unreadable=unreadable
            )

    async def _shown(
        self,
        who: Staff,
        row: HeldRow,
        terminal: Terminal,
        *,
        facts: dict[str, Any],
        review: ReviewView | None,
        unreadable: str | None,
    ) -> HeldView:
        """Audit the view, then answer it."""
        async with self.store.transaction() as tx:
            await tx.audit(
                at=self._now(),
                actor=who.user_id,
                action="held.viewed",
                subject=row.message_id,
                municipality=row.municipality,
                terminal=terminal.as_dict(),
                detail={"content": review is not None},
            )
        return HeldView(row, facts, review, unreadable)

    async def reveal(self, who: Staff, message_id: str, terminal: Terminal) -> dict[str, str]:
        """The full My Numbers of a held message's review copy, for an approver allowed to
        reveal them; audited with who, when, where from and which fields (never the
        numbers)."""
        async with self._refusal_audited(who, "held.reveal_refused", terminal, message_id):
            if who.disabled:
                raise NotAuthenticated("account_disabled", "the account is disabled")
            if Role.APPROVER not in who.roles or not who.may_reveal:
                raise Forbidden("may_not_reveal", "revealing My Number needs its own permission")
            message = await self._message(message_id)
            row = message.row
            if (row.municipality, row.department) != (who.municipality, who.department):
                raise unknown_message()
            if message.canonical is None:
                raise DeskError("pruned", PRUNED)
            envelope = Envelope.model_validate_json(message.canonical)
            try:
                _, review = readable(envelope, self._review_keys)
            except Unreadable:
                raise DeskError("unreadable", "the review copy cannot be read") from None
        found = review.my_numbers
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
        return dict(found)
