"""The periodic review of the audit trail (R17 「定期的に記録を確認」), as plain values and
functions (no I/O): the period under review, office hours, what the store found in the
period (`ReviewFacts`) and the report made of it, with the digest an auditor's mark
attests.

A report over [since, until) of one municipality's rows (or every row, for an account
that is also an admin): log-ins outside office hours, failed and locked-out log-ins by
account and reason, reveals of My Number per account, refusals by action and reason (the
desk's and the hub's), accounts left unused for `unused_days` as of `until`, and the
marks of auditors who reviewed the period already. The digest covers everything but the
marks, so a later report of the same period shows whether anything changed since.

Office hours are local time in Japan (UTC+9 all year: Japan keeps no summer time, so no
time-zone database is needed), Monday to Friday; public holidays are not known here.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, time, timedelta, timezone
from typing import Any

from contracts.canonical import canonical_bytes, format_datetime
from hub.settings.hours import OfficeHours

__all__ = [
    "DEFAULT_SPAN",
    "JST",
    "REFUSALS",
    "REVIEWED",
    "FailedLogins",
    "LoginAt",
    "OfficeHours",
    "Period",
    "PeriodInvalid",
    "Refusals",
    "Reveals",
    "ReviewFacts",
    "ReviewMark",
    "ReviewReport",
    "ReviewRules",
    "UnusedAccount",
    "parse_period",
    "report",
]

JST = timezone(timedelta(hours=9), "JST")
DEFAULT_SPAN = timedelta(days=7)
REVIEWED = "audit.reviewed"
REFUSALS = (
    "login.failed",
    "held.view_refused",
    "held.approval_refused",
    "held.rejection_refused",
    "held.reveal_refused",
    "held.check_refused",
    "held.sign_off_refused",
    "audit.search_refused",
    "audit.review_refused",
    "session.refused",
)
"""The audit actions of refused acts, which the report counts by reason."""
HUB_REJECTED = "hub.rejected"
"""How the report names the hub's refused messages (journal rows decided `reject`)."""

_DEFAULT_HOURS = OfficeHours(time(8, 30), time(17, 15))  # desk.office_hours's default
_DURATION = re.compile(r"(?P<count>[0-9]{1,5})(?P<unit>[dhm])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


@dataclass(frozen=True, slots=True)
class ReviewRules:
    """What the report judges by (settings desk.office_hours, desk.unused_account_days)."""

    office_hours: OfficeHours = _DEFAULT_HOURS
    unused_days: int = 90


class PeriodInvalid(ValueError):
    """A period that cannot be reviewed; `field` names the bound at fault."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field


@dataclass(frozen=True, slots=True)
class Period:
    """[since, until), both in UTC."""

    since: datetime
    until: datetime

    def as_dict(self) -> dict[str, str]:
        """As the audit rows and the digest write it."""
        return {"since": format_datetime(self.since), "until": format_datetime(self.until)}


def parse_period(since: str | None, until: str | None, now: datetime) -> Period:
    """The period of `--since`/`--until` (or the page's fields): each a duration (`7d`,
    `12h`, `30m`) or an ISO 8601 time (naive: UTC). `until` defaults to now (to the
    second, so a form can carry it back exactly) and counts back from now; `since`
    defaults to seven days before `until` and counts back from `until`."""
    end = _moment(until, "until", now) if until else now.astimezone(UTC).replace(microsecond=0)
    start = _moment(since, "since", end) if since else end - DEFAULT_SPAN
    if start >= end:
        raise PeriodInvalid("since", "must be before until")
    return Period(start, end)


def _moment(text: str, name: str, base: datetime) -> datetime:
    duration = _DURATION.fullmatch(text.strip())
    try:
        if duration is not None:
            span = timedelta(**{_UNITS[duration["unit"]]: int(duration["count"])})
            return (base - span).astimezone(UTC)
        moment = datetime.fromisoformat(text.strip())
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise PeriodInvalid(
            name, "a duration like 7d, 12h, 30m or a time like 2026-01-31T09:00"
        ) from None


@dataclass(frozen=True, slots=True)
class LoginAt:
    """A log-in: when, whose, from which client address."""

    at: datetime
    user_id: str
    client: str


@dataclass(frozen=True, slots=True)
class FailedLogins:
    """Failed log-ins of one account (`unknown`: an id that names none) for one reason."""

    user_id: str
    reason: str
    tries: int
    clients: int
    first: datetime
    last: datetime

    @property
    def locked(self) -> bool:
        """Whether these were refused by a lock rather than a wrong password."""
        return self.reason in {"locked_out", "client_locked_out"}


@dataclass(frozen=True, slots=True)
class Reveals:
    """How often one account revealed My Number, and of how many held messages."""

    user_id: str
    reveals: int
    messages: int
    last: datetime


@dataclass(frozen=True, slots=True)
class Refusals:
    """How often an act was refused for one reason (`action`: the audit action, or
    HUB_REJECTED for the hub's refused messages)."""

    action: str
    code: str
    times: int


@dataclass(frozen=True, slots=True)
class UnusedAccount:
    """An enabled account with no log-in (nor API token use) for the rules' days."""

    user_id: str
    kind: str
    roles: tuple[str, ...]
    created_at: datetime
    last_used: datetime | None


@dataclass(frozen=True, slots=True)
class ReviewMark:
    """An auditor's mark that a period was reviewed: the audit row that holds it."""

    seq: int
    at: datetime
    by: str
    scope: str | None
    period: Period
    sha256: str

    @classmethod
    def of(cls, seq: int, at: datetime, by: str, detail: Mapping[str, Any]) -> ReviewMark:
        """From an `audit.reviewed` row."""
        since, until = (datetime.fromisoformat(detail[k]) for k in ("since", "until"))
        return cls(seq, at, by, detail.get("scope"), Period(since, until), detail["sha256"])

    def detail(self) -> dict[str, Any]:
        """The audit row's detail."""
        return {**self.period.as_dict(), "scope": self.scope, "sha256": self.sha256}


@dataclass(frozen=True, slots=True)
class ReviewFacts:
    """What the store found in a period, each list in a fixed order (the digest's)."""

    logins: Sequence[LoginAt]
    failed: Sequence[FailedLogins]
    reveals: Sequence[Reveals]
    refusals: Sequence[Refusals]
    unused: Sequence[UnusedAccount]
    marks: Sequence[ReviewMark]


@dataclass(frozen=True, slots=True)
class ReviewReport:
    """The review of one period and scope (a municipality, or None: every row)."""

    period: Period
    scope: str | None
    rules: ReviewRules
    outside_hours: tuple[LoginAt, ...]
    logins: int
    failed: tuple[FailedLogins, ...]
    reveals: tuple[Reveals, ...]
    refusals: tuple[Refusals, ...]
    unused: tuple[UnusedAccount, ...]
    marks: tuple[ReviewMark, ...] = field(default=())
    """Marks of reviews whose period overlaps this one (not in the digest)."""

    def content(self) -> dict[str, Any]:
        """What the digest covers: the period, scope and rules, and every finding."""
        sections = ("outside_hours", "failed", "reveals", "refusals", "unused")
        return {
            **self.period.as_dict(),
            "scope": self.scope,
            "office_hours": str(self.rules.office_hours),
            "unused_days": self.rules.unused_days,
            "logins": self.logins,
            **{name: [_plain(asdict(row)) for row in getattr(self, name)] for name in sections},
        }

    def as_json(self) -> dict[str, Any]:
        """The report as the CLI's --json and the API answer it: its content, digest and
        the marks of reviews of an overlapping period."""
        marks = [
            {"seq": m.seq, "at": format_datetime(m.at), "by": m.by, **m.detail()}
            for m in self.marks
        ]
        return {
            **self.content(),
            "sha256": self.sha256,
            "marks": marks,
            "reviewed": bool(self.reviewed),
            "unchanged": self.unchanged,
        }

    @property
    def sha256(self) -> str:
        """SHA-256 of the canonical JSON of `content()`: what a mark attests."""
        return hashlib.sha256(canonical_bytes(self.content())).hexdigest()

    @property
    def reviewed(self) -> tuple[ReviewMark, ...]:
        """The marks whose period covers the whole of this one."""
        return tuple(
            m
            for m in self.marks
            if m.period.since <= self.period.since and m.period.until >= self.period.until
        )

    @property
    def unchanged(self) -> bool:
        """Whether a mark of exactly this period attests exactly this content."""
        return any(m.period == self.period and m.sha256 == self.sha256 for m in self.marks)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def report(
    period: Period, scope: str | None, rules: ReviewRules, facts: ReviewFacts
) -> ReviewReport:
    """The report of what the store found: the log-ins judged against office hours."""
    outside = tuple(login for login in facts.logins if rules.office_hours.outside(login.at))
    return ReviewReport(
        period=period,
        scope=scope,
        rules=rules,
        outside_hours=outside,
        logins=len(facts.logins),
        failed=tuple(facts.failed),
        reveals=tuple(facts.reveals),
        refusals=tuple(facts.refusals),
        unused=tuple(facts.unused),
        marks=tuple(facts.marks),
    )
