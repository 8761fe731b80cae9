"""Who may sign in from where and when (hub/desk/access.py, R26/R27, R23): registered
terminals, the order of a log-in's refusals, a contractor's roster entry (no I/O)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from hub.approvals import Role
from hub.desk.access import (
    RosterEntry,
    address_of,
    contractor_problem,
    login_refusal,
    network,
    roster_refusal,
    sorted_networks,
    terminal_refusal,
)
from hub.store.rows import Roster

OFFICE = (network("10.1.2.0/24"), network("::1"))


@pytest.mark.parametrize(
    ("client", "refused"),
    [
        ("10.1.2.77", None),
        ("::ffff:10.1.2.77", None),  # the same address on a dual-stack socket
        ("::1", None),
        ("10.1.3.1", "terminal_not_permitted"),
        ("testclient", "terminal_not_permitted"),  # no address is on no list
        ("unknown", "terminal_not_permitted"),
        ("cli@hub-host", "terminal_not_permitted"),  # the host's loopback: 127.0.0.1
    ],
)
def test_r27_only_a_listed_terminal_is_permitted(client: str, refused: str | None) -> None:
    assert terminal_refusal(OFFICE, client) == refused


def test_r26_an_account_without_terminals_is_refused_everywhere() -> None:
    assert terminal_refusal((), "10.1.2.77") == "no_terminal_registered"
    assert terminal_refusal((network("127.0.0.1"),), "cli@hub-host") is None
    assert str(address_of("cli@hub-host")) == "127.0.0.1"


@pytest.mark.parametrize("text", ["10.1.2.3/24", "10.0.0.0/7", "::/0", "host.example", "", "1.2.3"])
def test_a_terminal_that_is_no_address_or_too_wide_is_refused_without_quoting_it(
    text: str,
) -> None:
    with pytest.raises(ValueError, match=r"IP address|at most") as caught:
        network(text)
    assert not text or text not in str(caught.value)


def test_terminals_are_kept_once_ipv4_first() -> None:
    found = sorted_networks([network("::1"), network("10.0.0.0/8"), network("10.0.0.0/8")])
    assert [str(n) for n in found] == ["10.0.0.0/8", "::1/128"]


@pytest.mark.parametrize(
    ("throttled", "terminal", "roster", "decided"),
    [
        ("client_locked_out", "terminal_not_permitted", None, "client_locked_out"),
        ("unknown_user", None, None, "unknown_user"),
        # From elsewhere no password gets in: not counted as a bad one against the account.
        ("bad_password", "terminal_not_permitted", None, "terminal_not_permitted"),
        ("locked_out", "no_terminal_registered", None, "no_terminal_registered"),
        (None, "terminal_not_permitted", "roster_expired", "terminal_not_permitted"),
        ("bad_password", None, "roster_expired", "bad_password"),
        ("account_disabled", None, "roster_expired", "account_disabled"),
        (None, None, "roster_expired", "roster_expired"),
        (None, None, None, None),
    ],
)
def test_a_log_in_is_refused_in_order(
    throttled: str | None, terminal: str | None, roster: str | None, decided: str | None
) -> None:
    assert login_refusal(throttled, terminal=terminal, roster=roster) == decided  # type: ignore[arg-type]


APRIL = Roster("Example Maintenance K.K.", date(2026, 4, 1), date(2026, 4, 30))


@pytest.mark.parametrize(
    ("now", "refused"),
    [
        (datetime(2026, 3, 31, 14, 59, tzinfo=UTC), "roster_not_started"),  # 23:59 in Japan
        (datetime(2026, 3, 31, 15, 0, tzinfo=UTC), None),  # 1 April, 0:00 in Japan
        (datetime(2026, 4, 30, 14, 59, tzinfo=UTC), None),
        (datetime(2026, 4, 30, 15, 0, tzinfo=UTC), "roster_expired"),
    ],
)
def test_r23_a_contractor_works_only_on_its_roster_days_in_japan(
    now: datetime, refused: str | None
) -> None:
    assert roster_refusal(frozenset({Role.CONTRACTOR}), APRIL, now) == refused
    assert roster_refusal(frozenset({Role.OPERATOR}), None, now) is None
    assert roster_refusal(frozenset({Role.CONTRACTOR}), None, now) == "no_roster_entry"


ENTRY = RosterEntry("Example Maintenance K.K.", "山田 太郎", date(2026, 4, 1), date(2026, 4, 30))


@pytest.mark.parametrize(
    ("roles", "roster", "person", "reveal", "code"),
    [
        ({Role.CONTRACTOR}, ENTRY, True, False, None),
        ({Role.CONTRACTOR}, None, True, False, "roster_required"),
        ({Role.OPERATOR}, ENTRY, True, False, "roster_for_contractors_only"),
        ({Role.CONTRACTOR, Role.APPROVER}, ENTRY, True, False, "contractor_roles"),
        ({Role.CONTRACTOR, Role.ADMIN}, ENTRY, True, False, "contractor_roles"),
        ({Role.CONTRACTOR, Role.AUDITOR}, ENTRY, True, False, "contractor_roles"),
        ({Role.CONTRACTOR}, ENTRY, False, False, "contractor_account"),
        ({Role.CONTRACTOR}, ENTRY, True, True, "contractor_account"),
        ({Role.OPERATOR}, None, False, False, None),
    ],
)
def test_r23_a_contractor_needs_its_roster_entry_and_holds_nothing_else(
    roles: set[Role], roster: RosterEntry | None, person: bool, reveal: bool, code: str | None
) -> None:
    problem = contractor_problem(frozenset(roles), roster, person=person, may_reveal=reveal)
    assert (problem and problem[0]) == code


def test_r23_the_roster_entry_keeps_the_persons_name_out_of_its_repr_and_the_audit() -> None:
    assert "山田" not in repr(ENTRY)
    assert "山田" not in str(ENTRY.audited())
    assert ENTRY.audited()["company"] == "Example Maintenance K.K."
    assert ENTRY.problem() is None
    backwards = RosterEntry("A", "B", date(2026, 5, 1), date(2026, 4, 1))
    assert backwards.problem() == ("valid_until", "must not be before valid_from")
    assert RosterEntry("A", "123456789018", ENTRY.valid_from, ENTRY.valid_until).problem() == (
        "person",
        "must not contain a My Number",
    )
