"""Held messages and their approval: the state machine as plain functions, no I/O.

    held ──approve──> approved ──release──> released
      ├───reject────> rejected
      └───expire────> expired          (the sender gets a rejection notice)

Only an enabled account (R18) with the approver role for the message's municipality and
department may decide; nobody decides a message they originated (four eyes); a rejection
needs a comment; nothing is decided once its time has run out. Every refusal has a
stable code, so the HTTP API, the web page and the CLI explain it the same way.

A manual import (held `manual_import`, R01 「担当者間の二重チェック及び上長のチェック」) is
checked first: two operators of its department, each once, neither the person who
imported it, `check` it; only then may a 所属長 who checked none of it sign it off
(`approve`). A rejection needs no checks.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

__all__ = [
    "CHECKS_NEEDED",
    "MANUAL_IMPORT",
    "ApprovalRefused",
    "Held",
    "HeldState",
    "Role",
    "Staff",
    "approve",
    "check",
    "expire",
    "may_check_any",
    "may_decide",
    "may_decide_any",
    "reject",
    "release",
]


class HeldState(StrEnum):
    """Where a held message stands."""

    HELD = "held"
    APPROVED = "approved"
    RELEASED = "released"
    REJECTED = "rejected"
    EXPIRED = "expired"


class Role(StrEnum):
    """What a staff account may do."""

    OPERATOR = "operator"
    APPROVER = "approver"
    AUDITOR = "auditor"
    ADMIN = "admin"
    CONTRACTOR = "contractor"
    """A contractor's person (委託作業者, R23): with a roster entry, and no other role; the
    operator console's read-only views only (hub/web/contractors.py)."""


class ApprovalRefused(Exception):
    """A decision that may not be made; `code` says why."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Staff:
    """A person's account: one per person (R16), bound to a municipality and department."""

    user_id: str
    roles: frozenset[Role]
    municipality: str
    department: str
    disabled: bool = False
    may_reveal: bool = False
    """Revealing a masked My Number is a permission of its own, beside the roles."""


@dataclass(frozen=True, slots=True)
class Held:
    """A message waiting for a 所属長, and what was decided about it."""

    message_id: str
    municipality: str
    department: str
    originated_by: str | None
    held_at: datetime
    expires_at: datetime
    state: HeldState = HeldState.HELD
    decided_by: str | None = None
    decided_at: datetime | None = None
    comment: str | None = None
    reason_code: str = ""
    """Why it is held: `auto_response_disabled` (R37) or `manual_import` (R01)."""
    checked_by: frozenset[str] = frozenset()
    """The operators who checked a manual import (R01)."""


MANUAL_IMPORT = "manual_import"
CHECKS_NEEDED = 2
"""A manual import's checks before its sign-off: 担当者間の二重チェック (R01)."""


def may_decide_any(staff: Staff) -> None:
    """Refuse an account that may decide no held message at all; checked before any
    message is looked up, so the refusal tells nothing of one."""
    if staff.disabled:
        raise ApprovalRefused("account_disabled", f"account {staff.user_id} is disabled")
    if Role.APPROVER not in staff.roles:
        raise ApprovalRefused("not_an_approver", f"{staff.user_id} has no approver role")


def may_decide(held: Held, staff: Staff, now: datetime) -> None:
    """Refuse `staff` deciding `held` now (role, municipality, department, four eyes,
    state, time)."""
    may_decide_any(staff)
    if staff.municipality != held.municipality:
        raise ApprovalRefused("wrong_municipality", "the message belongs to another municipality")
    if staff.department != held.department:
        raise ApprovalRefused("wrong_department", "the message belongs to another department")
    if held.originated_by == staff.user_id:
        raise ApprovalRefused("four_eyes", "nobody may decide a message they originated")
    if held.state is not HeldState.HELD:
        raise ApprovalRefused("not_held", f"the message is {held.state.value}")
    if now >= held.expires_at:
        raise ApprovalRefused("expired", "the time to decide has run out")


def may_check_any(staff: Staff) -> None:
    """Refuse an account that may check no manual import at all; checked before any batch
    is looked up, so the refusal tells nothing of one."""
    if staff.disabled:
        raise ApprovalRefused("account_disabled", f"account {staff.user_id} is disabled")
    if Role.OPERATOR not in staff.roles:
        raise ApprovalRefused("not_an_operator", f"{staff.user_id} has no operator role")


def check(held: Held, staff: Staff, now: datetime) -> Held:
    """An operator of the import's municipality and department checks a manual import
    (R01): once each, never the person who imported it; the import with the check."""
    may_check_any(staff)
    if staff.municipality != held.municipality:
        raise ApprovalRefused("wrong_municipality", "the message belongs to another municipality")
    if staff.department != held.department:
        raise ApprovalRefused("wrong_department", "the message belongs to another department")
    if held.reason_code != MANUAL_IMPORT:
        raise ApprovalRefused("not_an_import", "only a manual import is checked (R01)")
    if held.originated_by == staff.user_id:
        raise ApprovalRefused("four_eyes", "nobody checks an import they made")
    if staff.user_id in held.checked_by:
        raise ApprovalRefused("already_checked", "each operator checks an import once")
    if held.state is not HeldState.HELD:
        raise ApprovalRefused("not_held", f"the message is {held.state.value}")
    if now >= held.expires_at:
        raise ApprovalRefused("expired", "the time to decide has run out")
    return replace(held, checked_by=held.checked_by | {staff.user_id})


def approve(held: Held, staff: Staff, now: datetime, comment: str | None = None) -> Held:
    """The approver releases the message to the outbox (state approved); a manual import
    only once two operators but the approver have checked it (R01)."""
    may_decide(held, staff, now)
    if held.reason_code == MANUAL_IMPORT:
        if staff.user_id in held.checked_by:
            raise ApprovalRefused("four_eyes", "nobody signs off an import they checked")
        checks = len(held.checked_by - {held.originated_by})
        if checks < CHECKS_NEEDED:
            raise ApprovalRefused(
                "checks_missing",
                f"a manual import needs {CHECKS_NEEDED} operators' checks before its "
                f"sign-off (R01); it has {checks}",
            )
    return replace(
        held, state=HeldState.APPROVED, decided_by=staff.user_id, decided_at=now, comment=comment
    )


def reject(held: Held, staff: Staff, now: datetime, comment: str) -> Held:
    """The approver refuses the message; a comment saying why is required."""
    may_decide(held, staff, now)
    if not comment.strip():
        raise ApprovalRefused("comment_required", "a rejection needs a comment")
    return replace(
        held, state=HeldState.REJECTED, decided_by=staff.user_id, decided_at=now, comment=comment
    )


def release(held: Held) -> Held:
    """An approved message has been written to the outbox (state released)."""
    if held.state is not HeldState.APPROVED:
        raise ApprovalRefused("not_approved", f"the message is {held.state.value}")
    return replace(held, state=HeldState.RELEASED)


def expire(held: Held, now: datetime) -> Held:
    """A message still held past its time expires (the sender is told)."""
    if held.state is not HeldState.HELD:
        raise ApprovalRefused("not_held", f"the message is {held.state.value}")
    if now < held.expires_at:
        raise ApprovalRefused("not_due", "the message has time left")
    return replace(held, state=HeldState.EXPIRED, decided_at=now)
