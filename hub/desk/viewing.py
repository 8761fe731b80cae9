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
    NotFound,
    Terminal,
    message_uuid,
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


class Viewing(DeskBase):
    """Held messages: list, show, reveal."""

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

    async def show(self, who: Staff, message_id: str, terminal: Terminal) -> HeldView:
        """A held message as `who` may see it, audited: its facts for an auditor or an
        admin of the municipality; the review copy too for one of its approvers."""
        message = await self._message(message_id)
        row = message.row
        self._may_see(who, row.municipality, admin_anywhere=False)
        deciding = Role.APPROVER in who.roles and who.department == row.department
        if not (deciding or who.roles & {Role.AUDITOR, Role.ADMIN}):
            if Role.APPROVER in who.roles:
                raise Forbidden("wrong_department", "the message belongs to another department")
            raise Forbidden("not_an_approver", "only its approvers and auditors see it")
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
        message = await self._message(message_id)
        row = message.row
        self._may_see(who, row.municipality, admin_anywhere=False)
        if Role.APPROVER not in who.roles or not who.may_reveal:
            raise Forbidden("may_not_reveal", "revealing My Number needs its own permission")
        if row.department != who.department:
            raise Forbidden("wrong_department", "the message belongs to another department")
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
