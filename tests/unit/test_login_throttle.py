"""Which lock refuses a log-in (hub.desk.throttle): the address lock before all, an unknown
id as such (so it answers as a locked account does), the account's locks before its
password, and the account-wide lock never at a terminal the account logged in from."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hub.desk.throttle import LIMITS, Refusal, refusal
from hub.store.rows import LoginLocks

NONE = LoginLocks(account_here=False, client=False, account=False, known_terminal=False)


@pytest.mark.parametrize(
    ("held", "known", "good", "disabled", "expected"),
    [
        ({}, True, True, False, None),
        ({}, True, False, False, "bad_password"),
        ({}, True, True, True, "account_disabled"),
        ({}, False, False, False, "unknown_user"),
        ({"client": True}, True, True, False, "client_locked_out"),
        ({"client": True}, False, False, False, "client_locked_out"),
        ({"account_here": True}, True, True, False, "locked_out"),
        ({"account_here": True, "known_terminal": True}, True, True, False, "locked_out"),
        ({"account": True}, True, True, False, "locked_out"),
        ({"account": True}, True, False, False, "locked_out"),
        ({"account": True, "known_terminal": True}, True, True, False, None),
        ({"account": True, "known_terminal": True}, True, False, False, "bad_password"),
        ({"account": True}, False, False, False, "unknown_user"),
    ],
)
def test_the_lock_that_refuses_a_try(
    held: dict[str, bool], known: bool, good: bool, disabled: bool, expected: Refusal | None
) -> None:
    assert refusal(replace(NONE, **held), known=known, good=good, disabled=disabled) == expected


def test_one_address_alone_cannot_set_off_the_account_lock() -> None:
    # It is stopped at LIMITS.account_here failures of an account per window.
    assert LIMITS.account_here < LIMITS.account
    assert LIMITS.account_here < LIMITS.client
