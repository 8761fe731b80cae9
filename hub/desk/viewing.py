"""Held messages as their approvers and auditors see them: the queue (no content), the
envelope with My Number masked and its SHA-256, and the reveal, audited."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from contracts.codes import MyNumber
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
from hub.store.rows import HeldMessage, HeldRow

__all__ = ["HeldView", "Viewing", "masked_view"]


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
