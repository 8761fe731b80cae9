"""Who may sign in from where, and when (R26/R27, R23): an account's registered terminals
and a contractor's roster entry, as plain functions (no I/O).

Terminals are registered addresses: IP addresses or networks (`ipaddress`), kept with the
account (`staff.terminals`). The address checked is the one the desk sees for a request
(`Terminal.client`: the peer, or the X-Forwarded-For of a trusted proxy); a command run on
the hub's own host (`cli@<host>`) is at the host's loopback address, so an account acts
from the command line only if 127.0.0.1 or ::1 is listed. Anything that is not an address
(an unknown peer) is on no list.

A contractor (委託作業者) holds the contractor role alone, is a person, and has a roster
entry: the company, the person's name (kept, never logged or audited), and the days the
entry is valid, from and until, both included, as days in Japan. Outside them the account
signs in to nothing, and a session it holds ends at its next request.

A log-in is decided in this order (`login_refusal`): the address lock and an unknown id
first (as hub.desk.throttle decides them), then the terminal, then the other locks, the
password and a disabled account, and the roster last. The terminal comes before the
password because from an address not on the list no password can get in, right or
wrong: such tries tell nothing, so they are not counted against the account (a stranger
outside the list cannot lock its owner out), only against their own address.
"""

from __future__ import annotations

import ipaddress
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Literal

from contracts.codes import writes_my_number
from hub.approvals import Role
from hub.desk.throttle import Refusal
from hub.store.rows import Network, Roster

__all__ = [
    "CLI_PREFIX",
    "MIN_PREFIX",
    "AccessRefusal",
    "LoginRefusal",
    "RosterEntry",
    "RosterRefusal",
    "TerminalRefusal",
    "address_of",
    "contractor_problem",
    "login_refusal",
    "network",
    "roster_refusal",
    "roster_text",
    "sorted_networks",
    "terminal_refusal",
]

TerminalRefusal = Literal["no_terminal_registered", "terminal_not_permitted"]
RosterRefusal = Literal["roster_not_started", "roster_expired", "no_roster_entry"]
AccessRefusal = TerminalRefusal | RosterRefusal
LoginRefusal = Refusal | AccessRefusal
"""Why a log-in failed, as the audit log records it."""

CLI_PREFIX = "cli@"
_LOOPBACK = ipaddress.ip_address("127.0.0.1")
MIN_PREFIX = {4: 8, 6: 32}
"""The widest network that may be registered: wider is not a list of terminals."""
_JST = timezone(timedelta(hours=9))
ROSTER_TEXT_MAX = 100
_CONTRACTOR_ONLY = frozenset({Role.CONTRACTOR})


def network(text: str) -> Network:
    """A registered terminal from its text (`10.1.2.0/24`, `192.0.2.7`, `::1/128`);
    ValueError saying what is wrong, never quoting the text."""
    try:
        found = ipaddress.ip_network(text.strip(), strict=True)
    except ValueError:
        raise ValueError(
            "an IP address or network, e.g. 192.0.2.7 or 10.1.2.0/24 (no host bits set)"
        ) from None
    if found.prefixlen < MIN_PREFIX[found.version]:
        raise ValueError(
            f"a network of at most /{MIN_PREFIX[4]} (IPv4) or /{MIN_PREFIX[6]} (IPv6): "
            "wider is not a list of terminals"
        )
    return found


def sorted_networks(networks: Iterable[Network]) -> tuple[Network, ...]:
    """Each network once, IPv4 first, by address."""
    unique = set(networks)
    return tuple(sorted(unique, key=lambda n: (n.version, n.network_address, n.prefixlen)))


def address_of(client: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a terminal's client text stands for (None: not an address)."""
    if client.startswith(CLI_PREFIX):
        return _LOOPBACK
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:10.1.2.3 on a dual-stack socket is 10.1.2.3
    return address


def terminal_refusal(terminals: Sequence[Network], client: str) -> TerminalRefusal | None:
    """Why an account may not act from `client`, or None if one of its terminals is it."""
    if not terminals:
        return "no_terminal_registered"
    address = address_of(client)
    if address is None or not any(address in n for n in terminals):
        return "terminal_not_permitted"
    return None


def roster_refusal(
    roles: frozenset[Role], roster: Roster | None, now: datetime
) -> RosterRefusal | None:
    """Why a contractor may not act at `now` (its roster entry's days, in Japan), or None;
    always None for anyone else."""
    if Role.CONTRACTOR not in roles:
        return None
    if roster is None:
        return "no_roster_entry"
    today = now.astimezone(_JST).date()
    if today < roster.valid_from:
        return "roster_not_started"
    if today > roster.valid_until:
        return "roster_expired"
    return None


def login_refusal(
    throttled: Refusal | None, *, terminal: TerminalRefusal | None, roster: RosterRefusal | None
) -> LoginRefusal | None:
    """Why a log-in is refused (the module docstring says in which order), or None."""
    if throttled in ("client_locked_out", "unknown_user"):
        return throttled
    return terminal or throttled or roster


@dataclass(frozen=True, slots=True)
class RosterEntry:
    """A contractor's entry in the roster (委託作業者の名簿), as added; the person's name
    stays out of its repr, so it reaches no log."""

    company: str
    person: str = field(repr=False)
    valid_from: date
    valid_until: date

    def audited(self) -> dict[str, str]:
        """What the audit log keeps of it: the company and the period, never the name."""
        return {
            "company": self.company,
            "valid_from": self.valid_from.isoformat(),
            "valid_until": self.valid_until.isoformat(),
        }

    def problem(self) -> tuple[str, str] | None:
        """(field, what is wrong) of the first bad field, or None."""
        for name, text in (("company", self.company), ("person", self.person)):
            wrong = roster_text(text)
            if wrong:
                return name, wrong
        if self.valid_until < self.valid_from:
            return "valid_until", "must not be before valid_from"
        return None


def roster_text(text: str) -> str | None:
    """What is wrong with a company or a person's name for the roster, or None."""
    if not text.strip() or len(text) > ROSTER_TEXT_MAX:
        return f"1-{ROSTER_TEXT_MAX} characters"
    if any(unicodedata.category(c) == "Cc" for c in text):
        return "control characters are not allowed"
    if writes_my_number(text):
        return "must not contain a My Number"
    return None


def contractor_problem(
    roles: frozenset[Role], roster: RosterEntry | None, *, person: bool, may_reveal: bool
) -> tuple[str, str] | None:
    """(code, reason) if the account's roles and roster entry do not go together, or None:
    a contractor needs its entry, holds no other role, is a person and reveals nothing;
    nobody else has an entry."""
    if Role.CONTRACTOR not in roles:
        if roster is not None:
            return "roster_for_contractors_only", "only a contractor account has a roster entry"
        return None
    if roster is None:
        return (
            "roster_required",
            "a contractor account needs its roster entry: company, person, valid from, valid until",
        )
    if roles != _CONTRACTOR_ONLY:
        return "contractor_roles", "a contractor account holds the contractor role alone"
    if not person or may_reveal:
        return "contractor_account", "a contractor account is a person's and reveals nothing"
    return None
