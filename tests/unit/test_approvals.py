"""The approval state machine: who may decide what, and which transitions exist."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from hub.approvals import (
    ApprovalRefused,
    Held,
    HeldState,
    Role,
    Staff,
    approve,
    expire,
    reject,
    release,
)

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
HELD = Held(
    message_id="019abf3c-2a00-7000-8000-000000000001",
    municipality="082279",
    department="kenko-zoshin",
    originated_by="tanaka",
    held_at=NOW - timedelta(hours=1),
    expires_at=NOW + timedelta(hours=23),
)
CHIEF = Staff("suzuki", frozenset({Role.APPROVER}), "082279", "kenko-zoshin")


def test_approve_then_release() -> None:
    approved = approve(HELD, CHIEF, NOW, "checked against the register")
    assert approved.state is HeldState.APPROVED
    assert (approved.decided_by, approved.decided_at) == ("suzuki", NOW)
    assert release(approved).state is HeldState.RELEASED


def test_reject_needs_a_comment() -> None:
    with pytest.raises(ApprovalRefused) as caught:
        reject(HELD, CHIEF, NOW, "  ")
    assert caught.value.code == "comment_required"
    rejected = reject(HELD, CHIEF, NOW, "wrong person")
    assert rejected.state is HeldState.REJECTED
    assert rejected.comment == "wrong person"


@pytest.mark.parametrize(
    ("staff", "held", "code"),
    [
        (replace(CHIEF, disabled=True), HELD, "account_disabled"),
        (replace(CHIEF, roles=frozenset({Role.OPERATOR, Role.AUDITOR})), HELD, "not_an_approver"),
        (replace(CHIEF, municipality="082074"), HELD, "wrong_municipality"),
        (replace(CHIEF, department="somu"), HELD, "wrong_department"),
        (replace(CHIEF, user_id="tanaka"), HELD, "four_eyes"),
        (CHIEF, replace(HELD, state=HeldState.APPROVED), "not_held"),
        (CHIEF, replace(HELD, state=HeldState.EXPIRED), "not_held"),
        (CHIEF, replace(HELD, expires_at=NOW), "expired"),
    ],
)
def test_each_refusal_has_its_code(staff: Staff, held: Held, code: str) -> None:
    with pytest.raises(ApprovalRefused) as approving:
        approve(held, staff, NOW)
    with pytest.raises(ApprovalRefused) as rejecting:
        reject(held, staff, NOW, "no")
    assert approving.value.code == rejecting.value.code == code


def test_only_an_approved_message_is_released() -> None:
    for state in (HeldState.HELD, HeldState.REJECTED, HeldState.RELEASED, HeldState.EXPIRED):
        with pytest.raises(ApprovalRefused, match="not_approved"):
            release(replace(HELD, state=state))


def test_a_message_expires_only_when_due_and_still_held() -> None:
    with pytest.raises(ApprovalRefused, match="not_due"):
        expire(HELD, NOW)
    expired = expire(HELD, HELD.expires_at)
    assert expired.state is HeldState.EXPIRED
    with pytest.raises(ApprovalRefused, match="not_held"):
        expire(approve(HELD, CHIEF, NOW), HELD.expires_at)
