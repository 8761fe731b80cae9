"""The desk store's rows as frozen records: built from a row's columns, typed, and never
showing a held message's bytes (no I/O)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from hub.approvals import Held, HeldState, Role
from hub.store.rows import HeldMessage, HeldRow, ProvisionRow, StaffRow, StaffWithPassword

AT = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
HELD: dict[str, Any] = {
    "message_id": "019abf3c-2a00-7000-8000-000000000001",
    "journal_seq": 7,
    "municipality": "082074",
    "department": "health-promotion",
    "routing_key": "nws.082074",
    "reason_code": "auto_response_disabled",
    "state": "held",
    "held_at": AT,
    "expires_at": AT + timedelta(hours=72),
    "originated_by": "doi",
    "decided_by": None,
    "decided_at": None,
    "comment": None,
    "content_sha256": None,
    "released_at": None,
    "kind": "provision_response",
    "procedure": "B2-115-2",
    "sender_system": "intermediate",
    "sender_municipality": "082074",
}
HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"  # not a real hash
STAFF: dict[str, Any] = {
    "user_id": "aoki",
    "kind": "person",
    "roles": ["approver", "auditor"],
    "municipality": "082074",
    "department": "health-promotion",
    "may_reveal": True,
    "created_at": AT,
    "disabled_at": None,
    "terminals": [],
    "company": None,
    "valid_from": None,
    "valid_until": None,
}


def test_a_held_row_is_typed_and_is_what_the_approval_rules_decide_on() -> None:
    row = HeldRow.of(HELD)
    assert row.state is HeldState.HELD
    assert row.as_held() == Held(
        message_id=HELD["message_id"],
        municipality="082074",
        department="health-promotion",
        originated_by="doi",
        held_at=AT,
        expires_at=AT + timedelta(hours=72),
        reason_code=HELD["reason_code"],
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.state = HeldState.RELEASED  # type: ignore[misc]


def test_a_held_message_keeps_its_bytes_out_of_its_repr() -> None:
    canonical = b'{"payload":{"my_number":"123456789018"}}'
    message = HeldMessage.of(HELD | {"canonical": memoryview(canonical)})
    assert message.canonical == canonical
    assert message.row == HeldRow.of(HELD)
    assert "123456789018" not in repr(message)


@pytest.mark.parametrize("column", ["held_at", "expires_at"])
def test_a_missing_column_or_a_naive_time_is_refused_by_name(column: str) -> None:
    with pytest.raises(KeyError, match=column):
        HeldRow.of({k: v for k, v in HELD.items() if k != column})
    with pytest.raises(TypeError, match=f"HeldRow: {column} must be timestamptz"):
        HeldRow.of(HELD | {column: AT.replace(tzinfo=None)})


def test_staff_rows_carry_roles_and_only_the_log_in_row_its_hash() -> None:
    listed = StaffRow.of(STAFF | {"password_hash": HASH})
    assert not hasattr(listed, "password_hash")
    assert listed.roles == frozenset({Role.APPROVER, Role.AUDITOR})
    staff = listed.as_staff()
    assert (staff.user_id, staff.roles, staff.disabled, staff.may_reveal) == (
        "aoki",
        listed.roles,
        False,
        True,
    )
    assert StaffRow.of(STAFF | {"disabled_at": AT}).as_staff().disabled
    for_login = StaffWithPassword.of(STAFF | {"password_hash": HASH})
    assert for_login.password_hash == HASH
    assert HASH not in repr(for_login)


def test_a_provision_row_keeps_its_data_items_as_a_tuple() -> None:
    record = ProvisionRow.of(
        {
            "message_id": HELD["message_id"],
            "correlation_id": HELD["message_id"],
            "direction": "provision",
            "kind": "provision_response",
            "procedure": "B2-115-2",
            "data_items": ["vaccination.history"],
            "inquirer_system": "nws",
            "inquirer_municipality": "082074",
            "provider_system": "intermediate",
            "provider_municipality": "082074",
            "requested_at": AT,
            "provided_at": None,
            "state": "held",
            "nondisclosure": False,
            "retention_until": date(2033, 11, 26),
        }
    )
    assert record.data_items == ("vaccination.history",)
