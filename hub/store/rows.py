"""The desk store's rows as frozen records: held messages, staff accounts, 情報提供等記録.

The store builds them from what PostgreSQL returns, and the desk, the HTTP API, the pages
and the CLI read their fields, never a row's keys. They are frozen slotted dataclasses, as
the audit rows and the approval state are (`hub/audit.py`, `hub/approvals.py`): every value
comes from a typed column (timestamptz as an aware datetime, uuid cast to text, text[] as a
list), so a model would only check again what the database guarantees; what is converted is
what has a type of its own here (a held state, roles, a tuple for an array).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from ipaddress import IPv4Network, IPv6Network
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Self, TypeVar

from hub.approvals import Held, HeldState, Role, Staff

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "HeldMessage",
    "HeldRow",
    "ImportBatch",
    "LockLimits",
    "LoginLocks",
    "Network",
    "ProvisionDirection",
    "ProvisionRow",
    "ProvisionState",
    "Roster",
    "SessionUse",
    "StaffRow",
    "StaffWithPassword",
]

ProvisionDirection = Literal["inquiry", "provision"]
ProvisionState = Literal["delivered", "held", "released", "rejected", "expired"]
Network = IPv4Network | IPv6Network
"""A registered terminal: an address (/32, /128) or a network (a cidr column)."""

_Row = TypeVar("_Row", bound="DataclassInstance")


def _from_record(cls: type[_Row], record: Mapping[str, Any], **converted: Any) -> _Row:
    """`cls` with each field taken from the record's column of that name (a missing column
    raises KeyError), except those given converted. A naive time is refused: the desk
    compares these with aware clocks, and a column that lost its time zone must fail here,
    named, not in a comparison far away."""
    taken = {f.name: record[f.name] for f in fields(cls) if f.name not in converted}
    naive = [k for k, v in taken.items() if isinstance(v, datetime) and v.tzinfo is None]
    if naive:
        raise TypeError(f"{cls.__name__}: {', '.join(naive)} must be timestamptz (aware)")
    return cls(**taken, **converted)


@dataclass(frozen=True, slots=True)
class HeldRow:
    """A held message and what was decided about it, without its content: the journaled
    bytes travel apart (`HeldMessage`), so whatever shows a row cannot show them unmasked."""

    message_id: str
    journal_seq: int
    municipality: str
    department: str
    """The department whose 所属長 decides."""
    routing_key: str
    reason_code: str
    state: HeldState
    held_at: datetime
    expires_at: datetime
    originated_by: str | None
    decided_by: str | None
    decided_at: datetime | None
    comment: str | None
    content_sha256: str | None
    """Of the content its approver was shown, once approved."""
    released_at: datetime | None
    kind: str | None
    procedure: str | None
    sender_system: str | None
    sender_municipality: str | None

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> HeldRow:
        """From a row of held_page, held_get, held_lock or held_due (desk.sql)."""
        return _from_record(cls, record, state=HeldState(record["state"]))

    def as_held(self) -> Held:
        """What the approval rules decide on (`hub.approvals`)."""
        return Held(
            message_id=self.message_id,
            municipality=self.municipality,
            department=self.department,
            originated_by=self.originated_by,
            held_at=self.held_at,
            expires_at=self.expires_at,
            state=self.state,
            decided_by=self.decided_by,
            decided_at=self.decided_at,
            comment=self.comment,
            reason_code=self.reason_code,
        )


@dataclass(frozen=True, slots=True)
class ImportBatch:
    """A manual import held for its checks and sign-off (R01): the rows of one batch (the
    correlation id they share), without their content."""

    batch: str
    rows: int
    originated_by: str | None
    """The staff account that imported it."""
    held_at: datetime
    expires_at: datetime
    kind: str
    procedure: str
    checked_by: tuple[str, ...]
    """The operators who have checked every row of it."""

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> ImportBatch:
        """From a row of import_batches (desk.sql)."""
        return _from_record(cls, record, checked_by=tuple(record["checked_by"]))


@dataclass(frozen=True, slots=True)
class HeldMessage:
    """A held row with its journaled bytes (My Number unmasked: for deciding and masking,
    never for showing as they are). A message decided long ago may have lost its bytes to
    retention (None); one still held never does."""

    row: HeldRow
    canonical: bytes | None = field(repr=False)

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> HeldMessage:
        """From a row of held_get, held_lock or held_due (desk.sql)."""
        kept = record["canonical"]
        return cls(HeldRow.of(record), None if kept is None else bytes(kept))

    def journaled(self) -> bytes:
        """The journaled bytes; ValueError if retention removed them."""
        if self.canonical is None:
            raise ValueError("the message's bytes were removed after their retention period")
        return self.canonical


@dataclass(frozen=True, slots=True)
class Roster:
    """A contractor's roster entry as the desk checks it: the company and the days it is
    valid, both included (the person's name is read only to list the roster)."""

    company: str
    valid_from: date
    valid_until: date


@dataclass(frozen=True, slots=True)
class StaffRow:
    """An account as listed (never its password hash), with the terminals it may act
    from and, for a contractor, its roster entry."""

    user_id: str
    kind: Literal["person", "system"]
    roles: frozenset[Role]
    municipality: str
    department: str
    may_reveal: bool
    created_at: datetime
    disabled_at: datetime | None
    terminals: tuple[Network, ...]
    roster: Roster | None

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> Self:
        """From a row of staff_list, staff_get or session_staff (desk.sql), whose roster
        columns (company, valid_from, valid_until) are NULL but for a contractor."""
        roles = frozenset(Role(role) for role in record["roles"])
        roster = (
            None
            if record["company"] is None
            else Roster(record["company"], record["valid_from"], record["valid_until"])
        )
        return _from_record(
            cls, record, roles=roles, terminals=tuple(record["terminals"]), roster=roster
        )

    def as_staff(self) -> Staff:
        """What the approval rules know of the account (`hub.approvals`)."""
        return Staff(
            user_id=self.user_id,
            roles=self.roles,
            municipality=self.municipality,
            department=self.department,
            disabled=self.disabled_at is not None,
            may_reveal=self.may_reveal,
        )


@dataclass(frozen=True, slots=True)
class StaffWithPassword(StaffRow):
    """An account with its argon2id password hash (None for a system's), for log-in."""

    password_hash: str | None = field(repr=False)


@dataclass(frozen=True, slots=True)
class SessionUse:
    """A live session or token as a request presents it: its account, which it is
    (`session`, `api_token`), whether it is a session left unused past the idle timeout,
    and whether its last use is old enough to be written again."""

    account: StaffRow
    credential: Literal["session", "api_token"]
    idle: bool
    due: bool

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> SessionUse:
        """From the row of session_staff (desk.sql)."""
        return cls(StaffRow.of(record), record["credential"], record["idle"], record["due"])


class LockLimits(NamedTuple):
    """The log-in throttle's thresholds (`hub.desk.throttle` sets them and says why)."""

    window_seconds: float
    account_here: int
    client: int
    account: int
    known_terminal_seconds: float


@dataclass(frozen=True, slots=True)
class LoginLocks:
    """The log-in locks holding for a try at an account (none for an unknown id) from a
    client address, and whether the account logged in from that address before."""

    account_here: bool
    client: bool
    account: bool
    known_terminal: bool

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> Self:
        """From the row of login_locks (desk.sql)."""
        return _from_record(cls, record)


@dataclass(frozen=True, slots=True)
class ProvisionRow:
    """One 情報提供等記録 (R47): both parties, request and provision times, data items."""

    message_id: str
    correlation_id: str
    direction: ProvisionDirection
    kind: str
    procedure: str
    data_items: tuple[str, ...]
    inquirer_system: str
    inquirer_municipality: str
    provider_system: str
    provider_municipality: str
    requested_at: datetime
    provided_at: datetime | None
    state: ProvisionState
    nondisclosure: bool
    retention_until: date

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> ProvisionRow:
        """From a row of provision_records_of (desk.sql)."""
        return _from_record(cls, record, data_items=tuple(record["data_items"]))
