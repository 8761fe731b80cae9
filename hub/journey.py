"""A message's journey through the hub, from the hub's own records alone (no tracing
backend): every journal row of the message and of every message sharing its correlation
id, each with what the outbox published, its hold and the 所属長's decision, the re-drives
that name it, the audit rows about it and the 情報提供等記録 it made, laid out as one
timeline. `sesshu trace` prints it; the operator console's message page shows it.

Metadata only: ids, parties, kinds, codes, times, the hub's own reasons. Nothing here
holds a payload, a comment or a terminal, so a journey can be shown to an operator.
The store builds it (`hub.store.journey`); this module only lays it out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

__all__ = [
    "AUDIT_DETAIL",
    "AuditEvent",
    "Event",
    "HeldStep",
    "Hop",
    "Journey",
    "JourneyKey",
    "Publish",
    "Record",
    "Redrive",
    "journey_key",
]

AUDIT_DETAIL = frozenset(
    {"routing_key", "attestation", "content_sha256", "expires_at", "state", "result_seq"}
    | {"journal_seq", "redrive", "count", "reason_code", "selection_sha256"}
)
"""The audit details a journey shows: ids, codes, digests and times, never a comment."""
# What the held row and the redrives row say already; the audit rows of these are kept in
# the journey's audit list, but the timeline takes them from those rows.
_DERIVED = frozenset(
    {"held.approved", "held.rejected", "held.expired", "held.released"}
    | {"redrive.requested", "redrive.done"}
)
# Within one instant and one row, what happened first (a decision, then the release).
_ORDER = {"received": 0, "held": 1, "record": 2, "audit": 3, "decided": 4, "released": 5}
_ORDER |= {"redrive": 6, "outbox": 7, "published": 8}
_SEQ = re.compile(r"(?:#|seq:)([0-9]{1,18})")


@dataclass(frozen=True, slots=True)
class JourneyKey:
    """What a journey is asked for: a message or correlation id, or a journal seq (a
    message refused before its signature verified has no id in the journal)."""

    text: str
    uuid: str | None = None
    seq: int | None = None


def journey_key(text: str) -> JourneyKey:
    """A message or correlation id (a UUID), or `#<seq>` / `seq:<seq>`; ValueError if
    neither."""
    text = text.strip()
    match = _SEQ.fullmatch(text)
    if match:
        return JourneyKey(text, seq=int(match[1]))
    try:
        return JourneyKey(text, uuid=str(UUID(text)))
    except ValueError:
        raise ValueError(
            "expected a message or correlation id (a UUID), or #<journal seq>"
        ) from None


@dataclass(frozen=True, slots=True)
class Publish:
    """An outbox row of a journal row: where it went and when the broker confirmed it."""

    exchange: str
    routing_key: str
    queued_at: datetime
    published_at: datetime | None
    attempts: int


@dataclass(frozen=True, slots=True)
class HeldStep:
    """A journal row's hold for a 所属長, and what was decided."""

    state: str
    reason_code: str
    department: str
    held_at: datetime
    expires_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    released_at: datetime | None


@dataclass(frozen=True, slots=True)
class Hop:
    """One journal row: a message as the hub received (or wrote) it, and its decision."""

    seq: int
    message_id: str | None
    kind: str | None
    sender_system: str | None
    municipality: str | None
    recipient_system: str | None
    recipient_municipality: str | None
    procedure: str | None
    data_items: tuple[str, ...]
    correlation_id: str | None
    causation_id: str | None
    key_id: str | None
    sent_at: datetime | None
    received_at: datetime
    decision: str
    reason_code: str | None
    reason: str | None
    policy_version: str
    trace_id: str | None
    pruned: bool
    """Retention removed its bytes (its metadata stays)."""
    publishes: tuple[Publish, ...] = ()
    held: HeldStep | None = None

    @property
    def sender(self) -> str:
        """`system.municipality` of the sender, `?` for what the journal does not know."""
        return _party(self.sender_system, self.municipality)

    @property
    def recipient(self) -> str:
        """`system.municipality` of the recipient."""
        return _party(self.recipient_system, self.recipient_municipality)

    @property
    def label(self) -> str:
        """The message id, or `#seq` for a row without one."""
        return self.message_id or f"#{self.seq}"


def _party(system: str | None, municipality: str | None) -> str:
    if system is None:
        return "?"
    return system if municipality is None else f"{system}.{municipality}"


@dataclass(frozen=True, slots=True)
class Record:
    """A 情報提供等記録 (R47) the journey made."""

    message_id: str
    journal_seq: int
    direction: str
    kind: str
    procedure: str
    data_items: tuple[str, ...]
    inquirer: str
    provider: str
    requested_at: datetime
    provided_at: datetime | None
    state: str
    nondisclosure: bool


@dataclass(frozen=True, slots=True)
class Redrive:
    """A re-drive of a journal row (hub/redrive.py): who asked, what came of it."""

    id: int
    journal_seq: int
    requested_by: str
    requested_at: datetime
    state: str
    done_at: datetime | None
    result_seq: int | None
    reason_code: str | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """An audit row about one of the journey's messages (its detail cut to AUDIT_DETAIL)."""

    seq: int
    at: datetime
    actor: str
    action: str
    subject: str | None
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Event:
    """One line of the timeline: when, which journal row, what happened."""

    at: datetime
    seq: int | None
    what: str
    text: str


@dataclass(frozen=True, slots=True)
class Journey:
    """Everything the hub recorded of a message and its correlated messages."""

    key: JourneyKey
    hops: tuple[Hop, ...]
    records: tuple[Record, ...] = ()
    audit: tuple[AuditEvent, ...] = ()
    redrives: tuple[Redrive, ...] = ()

    @property
    def correlation_ids(self) -> list[str]:
        """The correlation ids the journey spans, in order of appearance."""
        return list(dict.fromkeys(h.correlation_id for h in self.hops if h.correlation_id))

    @property
    def municipalities(self) -> frozenset[str | None]:
        """Every municipality a hop names (None: a row refused before it verified)."""
        return frozenset(
            m for hop in self.hops for m in (hop.municipality, hop.recipient_municipality)
        )

    def hop(self, seq: int) -> Hop | None:
        """The journal row `seq`, if it is part of the journey."""
        return next((hop for hop in self.hops if hop.seq == seq), None)

    def timeline(self) -> list[Event]:
        """Every event of the journey, oldest first."""
        events = [*self._hop_events(), *self._redrive_events(), *self._audit_events()]
        events += [
            Event(
                r.requested_at,
                r.journal_seq,
                "record",
                f"情報提供等記録 ({r.direction}) written, now {r.state}: inquirer "
                f"{r.inquirer}, provider {r.provider}",
            )
            for r in self.records
        ]
        return sorted(events, key=lambda e: (e.at, e.seq or 0, _ORDER.get(e.what, 9)))

    def _hop_events(self) -> Iterator[Event]:
        for hop in self.hops:
            decided = (
                hop.decision if hop.reason_code is None else f"{hop.decision} {hop.reason_code}"
            )
            yield Event(
                hop.received_at,
                hop.seq,
                "received",
                f"{hop.kind or '?'} {hop.sender} → {hop.recipient}: {decided}",
            )
            for publish in hop.publishes:
                yield _publish_event(hop.seq, publish)
            if hop.held is not None:
                yield from _held_events(hop.seq, hop.held)

    def _redrive_events(self) -> Iterator[Event]:
        for r in self.redrives:
            yield Event(
                r.requested_at,
                r.journal_seq,
                "redrive",
                f"re-drive {r.id} asked by {r.requested_by}",
            )
            if r.done_at is None:
                continue
            if r.result_seq is not None:
                done = f"re-drive {r.id}: {r.state} as #{r.result_seq}"
            else:
                done = f"re-drive {r.id}: {r.state} ({r.reason_code or '-'})"
            yield Event(r.done_at, r.journal_seq, "redrive", done)

    def _audit_events(self) -> Iterator[Event]:
        by_subject = {h.message_id: h.seq for h in self.hops if h.message_id}
        by_subject |= {f"journal:{h.seq}": h.seq for h in self.hops}
        for row in self.audit:
            if row.action in _DERIVED or row.action.startswith("ops."):
                continue
            seq = by_subject.get(row.subject or "")
            yield Event(row.at, seq, "audit", f"{row.action} by {row.actor}")

    def as_json(self) -> dict[str, Any]:
        """The journey as JSON-ready data (times in ISO 8601)."""
        document: dict[str, Any] = _jsonable(
            {
                "query": self.key.text,
                "correlation_ids": self.correlation_ids,
                "messages": [asdict(hop) for hop in self.hops],
                "provision_records": [asdict(record) for record in self.records],
                "redrives": [asdict(redrive) for redrive in self.redrives],
                "audit": [asdict(row) for row in self.audit],
                "timeline": [asdict(event) for event in self.timeline()],
            }
        )
        return document


def _publish_event(seq: int, publish: Publish) -> Event:
    where = f"{publish.exchange} {publish.routing_key}"
    if publish.published_at is None:
        text = f"queued for {where}, not yet confirmed ({publish.attempts} attempts)"
        return Event(publish.queued_at, seq, "outbox", text)
    return Event(publish.published_at, seq, "published", f"published to {where}")


def _held_events(seq: int, held: HeldStep) -> Iterator[Event]:
    yield Event(
        held.held_at,
        seq,
        "held",
        f"held for the 所属長 of {held.department} ({held.reason_code}), "
        f"expires {held.expires_at:%Y-%m-%d %H:%M} UTC",
    )
    if held.decided_at is not None and held.state != "held":
        who = f" by {held.decided_by}" if held.decided_by else ""
        verb = "approved" if held.state in ("approved", "released") else held.state
        yield Event(held.decided_at, seq, "decided", f"{verb}{who}")
    if held.released_at is not None:
        yield Event(held.released_at, seq, "released", "released to the outbox")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | frozenset | set):
        return [_jsonable(v) for v in value]
    return value
