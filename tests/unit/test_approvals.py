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
    check,
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


# --- manual imports (R01) ---------------------------------------------------------------

IMPORT = replace(HELD, reason_code="manual_import")
CLERK_A = Staff("sato", frozenset({Role.OPERATOR}), "082279", "kenko-zoshin")
CLERK_B = Staff("ito", frozenset({Role.OPERATOR}), "082279", "kenko-zoshin")
IMPORTER = Staff("tanaka", frozenset({Role.OPERATOR}), "082279", "kenko-zoshin")


def refused(act: object, *args: object) -> str:
    with pytest.raises(ApprovalRefused) as caught:
        act(*args)  # type: ignore[operator]
    return caught.value.code


def test_r01_a_manual_import_is_signed_off_only_after_two_operators_checked_it() -> None:
    assert refused(approve, IMPORT, CHIEF, NOW) == "checks_missing"  # no check
    once = check(IMPORT, CLERK_A, NOW)
    assert once.checked_by == {"sato"}
    assert refused(approve, once, CHIEF, NOW) == "checks_missing"  # one check
    assert refused(check, once, CLERK_A, NOW) == "already_checked"  # the same person twice
    twice = check(once, CLERK_B, NOW)
    assert approve(twice, CHIEF, NOW).state is HeldState.APPROVED
    # A rejection needs no checks; what is not signed off stays held until it expires.
    assert reject(IMPORT, CHIEF, NOW, "wrong batch").state is HeldState.REJECTED
    assert expire(IMPORT, NOW + timedelta(days=1)).state is HeldState.EXPIRED


def test_r01_the_importer_checks_nothing_and_a_checker_signs_nothing_off() -> None:
    assert refused(check, IMPORT, IMPORTER, NOW) == "four_eyes"
    # Counted without the importer, had a row said otherwise; a checker cannot sign off.
    both = replace(IMPORT, checked_by=frozenset({"tanaka", "sato"}))
    assert refused(approve, both, CHIEF, NOW) == "checks_missing"
    chief_too = Staff("suzuki", frozenset({Role.APPROVER, Role.OPERATOR}), "082279", "kenko-zoshin")
    checked = check(check(IMPORT, CLERK_A, NOW), chief_too, NOW)
    assert refused(approve, checked, chief_too, NOW) == "four_eyes"


@pytest.mark.parametrize(
    ("who", "held", "code"),
    [
        (CHIEF, IMPORT, "not_an_operator"),
        (replace(CLERK_A, disabled=True), IMPORT, "account_disabled"),
        (replace(CLERK_A, municipality="082074"), IMPORT, "wrong_municipality"),
        (replace(CLERK_A, department="somu"), IMPORT, "wrong_department"),
        (CLERK_A, HELD, "not_an_import"),
        (CLERK_A, replace(IMPORT, state=HeldState.REJECTED), "not_held"),
        (CLERK_A, replace(IMPORT, expires_at=NOW), "expired"),
    ],
)
def test_r01_a_check_is_an_operators_of_the_imports_department_while_it_is_held(
    who: Staff, held: Held, code: str
) -> None:
    assert refused(check, held, who, NOW) == code
