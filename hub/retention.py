"""Retention: how long the hub keeps what it journals, as plain functions (no I/O).

A journaled message's payload bytes go once they are older than the message's period; its
journal row (metadata, decision, the SHA-256 of the bytes) stays, so the seals in the audit
log still verify. The period is the shortest of those that apply:

    transport  SESSHU_RETENTION__TRANSPORT_DAYS: the hub carries messages, it does not
               archive them; the systems of record keep what they must (five years of
               vaccination records at health management, seven of 情報提供等記録)
    list       the retention_days of the permitted-inquiry list's rows for the message's
               procedure and each of its data items: the longest anything exchanged under
               such a row may be kept, so the hub's copy never outlives it
    R42        for the messages of an inquiry (request, permit, reply, result): the
               intermediate server's SESSHU_ADAPTERS__RESULT_RETENTION_HOURS, so the hub's
               copy of a result goes when the result itself does

A refused message's bytes go after SESSHU_RETENTION__REFUSED_DAYS, whatever the list says:
no row of it let that message through. A 情報提供等記録 (`provision_records`) goes once the
day it is kept until (written with it: seven years, R47) has passed. Bytes that a held
message still waits on, or that the outbox has not published, are never selected (the
store's queries, `hub/store/retention.sql`).

The store groups the journal rows that still hold their bytes by what their period depends
on (`PayloadGroup`); `cutoffs` says which groups have rows due and from when, and the store
removes those rows' bytes. A prune's answer is a list of `Pruned` lines, by kind and age.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hub.settings import Settings
from routing.policy import Policy

__all__ = [
    "INQUIRY_KINDS",
    "Cutoff",
    "PayloadGroup",
    "Period",
    "Periods",
    "Pruned",
    "age_text",
    "cutoffs",
    "merged",
    "report",
]

# The messages of an inquiry over the network (F6, F7): the intermediate server deletes the
# inquiry and its result together, finished or interrupted (R42).
INQUIRY_KINDS = frozenset(
    {"inquiry_request", "provision_permit", "provision_response", "inquiry_result"}
)
_DAY = timedelta(days=1)


def age_text(length: timedelta) -> str:
    """A period as a person reads it: `7 y`, `30 d`, `72 h`, `15 min` (days from four on,
    so the R42 period reads as the hours it is set in)."""
    seconds = int(length.total_seconds())
    year, day = 365 * 86400, 86400
    if seconds >= year and seconds % year == 0:
        return f"{seconds // year} y"
    if seconds > 3 * day and seconds % day == 0:
        return f"{seconds // day} d"
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


@dataclass(frozen=True, slots=True)
class Period:
    """How long a message's bytes are kept, and what set it (transport, list, R42,
    refused)."""

    length: timedelta
    source: str

    def label(self) -> str:
        """`older than 30 d (transport)`."""
        return f"older than {age_text(self.length)} ({self.source})"


@dataclass(frozen=True, slots=True)
class Periods:
    """Every period the hub's prune applies, from the settings and the policy in force."""

    transport: timedelta
    refused: timedelta
    inquiry: timedelta
    listed: Mapping[tuple[str, str], timedelta]
    """(procedure, data item) -> the shortest retention_days of the list's rows for it."""

    @classmethod
    def of(cls, policy: Policy, settings: Settings) -> Periods:
        """The periods under this policy and these settings."""
        listed: dict[tuple[str, str], timedelta] = {}
        for row in policy.rows:
            key, days = (row.procedure, row.data_item), timedelta(days=row.retention_days)
            listed[key] = min(days, listed.get(key, days))
        return cls(
            transport=timedelta(days=settings.retention.transport_days),
            refused=timedelta(days=settings.retention.refused_days),
            inquiry=timedelta(hours=settings.adapters.result_retention_hours),
            listed=listed,
        )

    def shortest(self) -> timedelta:
        """No row younger than this is due, whatever its group."""
        return min(self.transport, self.refused, self.inquiry, *self.listed.values())

    def of_message(
        self, kind: str | None, decision: str, procedure: str | None, data_items: Sequence[str]
    ) -> Period:
        """The period of a journaled message's bytes."""
        if decision == "reject":
            return Period(self.refused, "refused")
        candidates = [Period(self.transport, "transport")]
        for item in data_items:
            listed = self.listed.get((procedure or "", item))
            if listed is not None:
                candidates.append(Period(listed, "list"))
        if kind in INQUIRY_KINDS:
            candidates.append(Period(self.inquiry, "R42"))
        # The shortest wins; of equals, the most specific names it (R42, then the list).
        rank = {"R42": 0, "list": 1, "transport": 2}
        return min(candidates, key=lambda p: (p.length, rank[p.source]))


@dataclass(frozen=True, slots=True)
class PayloadGroup:
    """Journal rows still holding their bytes that share what their period depends on."""

    kind: str | None
    decision: str
    procedure: str | None
    data_items: str | None
    """Comma-separated, as the store keys the group (None: journaled with none recorded)."""
    rows: int
    oldest: datetime

    def items(self) -> tuple[str, ...]:
        """The data items, one by one."""
        return tuple(i for i in (self.data_items or "").split(",") if i)


@dataclass(frozen=True, slots=True)
class Cutoff:
    """A group with rows due: every row of it received before `before` loses its bytes."""

    group: PayloadGroup
    period: Period
    before: datetime


def cutoffs(groups: Iterable[PayloadGroup], periods: Periods, now: datetime) -> list[Cutoff]:
    """The groups whose oldest row is past its period, each with its cutoff."""
    found = []
    for group in groups:
        period = periods.of_message(group.kind, group.decision, group.procedure, group.items())
        before = now - period.length
        if group.oldest < before:
            found.append(Cutoff(group, period, before))
    return found


@dataclass(frozen=True, slots=True)
class Pruned:
    """One line of what a prune removed (or, dry, would remove): what, how old, how many."""

    what: str
    age: str
    count: int
    unit: str
    oldest: datetime | None = None

    def line(self, now: datetime) -> str:
        """`dose_record   older than 30 d (transport)   1,204 payloads   oldest 41 d`."""
        oldest = "" if self.oldest is None else f"   oldest {_ago(now - self.oldest)}"
        return f"{self.what:<26} {self.age:<32} {self.count:>9,} {self.unit}{oldest}"

    def audited(self) -> dict[str, Any]:
        """What the audit row keeps of it: counts, never what was removed."""
        return {"what": self.what, "age": self.age, "count": self.count, "unit": self.unit}


def _ago(delta: timedelta) -> str:
    if delta >= timedelta(days=2 * 365):
        return f"{delta.days // 365} y"
    if delta >= 2 * _DAY:
        return f"{delta.days} d"
    return f"{int(delta.total_seconds() // 3600)} h"


def merged(lines: Iterable[Pruned]) -> list[Pruned]:
    """Lines of the same what, age and unit added up (groups of several procedures, or
    several transactions of one prune), sorted by what."""
    total: dict[tuple[str, str, str], Pruned] = {}
    for line in lines:
        key = (line.what, line.age, line.unit)
        seen = total.get(key)
        if seen is None:
            total[key] = line
            continue
        olds = [o for o in (seen.oldest, line.oldest) if o is not None]
        total[key] = Pruned(
            line.what, line.age, seen.count + line.count, line.unit, min(olds, default=None)
        )
    return [total[key] for key in sorted(total)]


def report(lines: Sequence[Pruned], now: datetime, *, dry_run: bool) -> list[str]:
    """What a prune prints: a heading, then one line per kind and age."""
    lines = [line for line in lines if line.count]
    if not lines:
        return ["nothing is past its retention period"]
    heading = "would remove (dry run, nothing changed):" if dry_run else "removed:"
    return [heading, *(f"  {line.line(now)}" for line in lines)]
