"""Log-in throttling: which lock refuses a try (no I/O; the counts come from the audit log,
`login_locks` in hub/store/desk.sql).

A lock keyed on the account alone lets anyone who knows a user id keep that person out:
five wrong passwords every quarter of an hour, from anywhere. So the locks are keyed on
where the try comes from (the terminal's client address) as well, each over a window of
LOCKOUT_SECONDS:

    account at address  LOCKOUT_FAILURES failures of one account from one address lock
                        that account at that address: a guesser at one address gets five
                        tries an account, while the person logs in from their own terminal
    address             CLIENT_LOCKOUT_FAILURES failures from one address, whatever the
                        accounts (unknown ids included), lock that address out of every
                        account: a guesser cannot go down the staff list instead
    account             ACCOUNT_LOCKOUT_FAILURES failures of one account from anywhere
                        lock it at every address but those it logged in from within
                        KNOWN_TERMINAL_DAYS: many addresses guessing at one account get
                        twenty tries between them, and the person's own terminals stay open

One address alone can never set off the account lock: the first lock stops it at five
failures of that account per window, under the account lock's twenty.

A lock ends LOCKOUT_SECONDS after the failure that set it off. Tries it refuses are not
counted towards the locks of the account, so trying on during a lock does not extend it.
They are counted towards the lock of their address (only the address lock's own refusals
are not), so a locked account and an unknown id add up to the same there: both answer
alike, try after try, and neither tells whether the account exists. Only the address
lock says it is one (it is about the address, whatever account is named), and it is
decided before the password is hashed, so a locked-out address costs no argon2.

A try is decided under the audit chain's lock, which its audit row takes anyway, so
tries sent all at once are counted one after another and a burst cannot outrun its lock.

Behind a reverse proxy every try comes from the proxy's address unless the desk believes
its X-Forwarded-For (SESSHU_DESK__TRUSTED_PROXIES); left so, ten wrong passwords from
anyone would lock everyone out. The command line's tries all come from `cli@<host>`.
"""

from __future__ import annotations

from typing import Literal

from hub.store.rows import LockLimits, LoginLocks

__all__ = [
    "ACCOUNT_LOCKOUT_FAILURES",
    "CLIENT_LOCKOUT_FAILURES",
    "KNOWN_TERMINAL_DAYS",
    "LIMITS",
    "LOCKOUT_FAILURES",
    "LOCKOUT_SECONDS",
    "Refusal",
    "refusal",
]

LOCKOUT_SECONDS = 15 * 60
LOCKOUT_FAILURES = 5
CLIENT_LOCKOUT_FAILURES = 10
ACCOUNT_LOCKOUT_FAILURES = 20
KNOWN_TERMINAL_DAYS = 90
LIMITS = LockLimits(
    window_seconds=LOCKOUT_SECONDS,
    account_here=LOCKOUT_FAILURES,
    client=CLIENT_LOCKOUT_FAILURES,
    account=ACCOUNT_LOCKOUT_FAILURES,
    known_terminal_seconds=KNOWN_TERMINAL_DAYS * 86400,
)

Refusal = Literal[
    "unknown_user", "bad_password", "account_disabled", "locked_out", "client_locked_out"
]
"""Why a log-in failed, as the audit log records it (never as the person trying is told)."""


def refusal(locks: LoginLocks, *, known: bool, good: bool, disabled: bool) -> Refusal | None:
    """Why a try is refused, or None to let it in: `known` whether the id names an
    account, `good` whether the password matched, `disabled` whether the account is."""
    if locks.client:
        return "client_locked_out"
    if not known:
        return "unknown_user"
    if locks.account_here or (locks.account and not locks.known_terminal):
        return "locked_out"
    if not good:
        return "bad_password"
    return "account_disabled" if disabled else None
