"""The JSON bodies of the operator console's API (`hub.web.ops`): metadata only, each
built from the desk's own records (hub/desk/operations.py, hub/journey.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from hub.desk.operations import Overview
from hub.desk.redrives import RedrivePreview
from hub.journey import AuditEvent, Event, Hop, Journey, Record, Redrive
from hub.store.operations import JournalLine
from hub.web.params import BIGINT_MAX, in_utc, printable
from hub.web.queues import QueueDepth, QueueDepths

__all__ = [
    "JourneyOut",
    "MessageOut",
    "MessagePage",
    "OverviewOut",
    "RedriveConfirm",
    "RedrivePreviewOut",
    "RedriveQueued",
    "RedriveRequest",
]


class Throughput(BaseModel):
    """Journal rows of one kind and decision in the window."""

    kind: str
    decision: str
    count: int


class DeadLetterCount(BaseModel):
    """Refusals of one reason code in the window."""

    reason_code: str
    count: int
    last_at: datetime
    redrivable: bool


class HeldOut(BaseModel):
    """A message waiting for a 所属長, and for how long."""

    message_id: str
    journal_seq: int
    municipality: str
    department: str
    kind: str | None
    held_at: datetime
    expires_at: datetime
    age_seconds: float


class QueuesOut(BaseModel):
    """The vhost's queues, or why they are unavailable."""

    vhost: str
    available: bool
    reason: str | None
    queues: list[QueueDepth]

    @classmethod
    def of(cls, depths: QueueDepths) -> QueuesOut:
        """From the management API's answer."""
        return cls(
            vhost=depths.vhost,
            available=depths.available,
            reason=depths.reason,
            queues=list(depths.queues),
        )


class OverviewOut(BaseModel):
    """The console: throughput and dead letters of the window, held messages, queues."""

    window_seconds: float
    total: int
    throughput: list[Throughput]
    dead_letters: list[DeadLetterCount]
    held_total: int
    held: list[HeldOut]
    redrives_pending: int
    queues: QueuesOut

    @classmethod
    def of(cls, overview: Overview, depths: QueueDepths) -> OverviewOut:
        """From the desk's overview and the management API's queues."""
        return cls(
            window_seconds=overview.window_seconds,
            total=overview.total,
            throughput=[Throughput(kind=k, decision=d, count=n) for k, d, n in overview.throughput],
            dead_letters=[
                DeadLetterCount.model_validate(d, from_attributes=True)
                for d in overview.dead_letters
            ],
            held_total=overview.held_total,
            held=[HeldOut.model_validate(h, from_attributes=True) for h in overview.held],
            redrives_pending=overview.redrives_pending,
            queues=QueuesOut.of(depths),
        )


class MessagePage(BaseModel):
    """A page of the journal, newest first; `next` is the cursor of the next page."""

    items: list[JournalLine]
    next: int | None = Field(description="pass as `after` for the next page; null: last page")


class JourneyOut(BaseModel):
    """A message's journey (what `sesshu trace --json` prints)."""

    query: str
    correlation_ids: list[str]
    messages: list[Hop]
    provision_records: list[Record]
    redrives: list[Redrive]
    audit: list[AuditEvent]
    timeline: list[Event]

    @classmethod
    def of(cls, journey: Journey) -> JourneyOut:
        """From the desk's journey."""
        return cls(
            query=journey.key.text,
            correlation_ids=journey.correlation_ids,
            messages=list(journey.hops),
            provision_records=list(journey.records),
            redrives=list(journey.redrives),
            audit=list(journey.audit),
            timeline=journey.timeline(),
        )


class MessageOut(BaseModel):
    """One journal row's metadata and its journey; never its payload."""

    message: Hop
    redrivable: bool
    journey: JourneyOut


class RedriveRequest(BaseModel):
    """What to re-drive: one journal row, or a reason code (and a time range, a kind)."""

    journal_seq: int | None = Field(default=None, ge=1, le=BIGINT_MAX)
    reason_code: Annotated[str | None, AfterValidator(printable)] = Field(
        default=None, max_length=64
    )
    since: Annotated[datetime | None, AfterValidator(in_utc)] = None
    until: Annotated[datetime | None, AfterValidator(in_utc)] = None
    kind: Annotated[str | None, AfterValidator(printable)] = Field(default=None, max_length=64)


class RedriveConfirm(RedriveRequest):
    """A confirmation: the selection again, with the digest its dry run gave."""

    selection_sha256: str = Field(pattern="^[0-9a-f]{64}$")


class RedrivePreviewOut(BaseModel):
    """A dry run: how many refused rows would be re-driven, by reason; nothing changed."""

    count: int
    capped: bool
    by_reason: dict[str, int]
    journal_seqs: list[int]
    selection_sha256: str

    @classmethod
    def of(cls, preview: RedrivePreview) -> RedrivePreviewOut:
        """From the desk's dry run."""
        return cls(
            count=len(preview.candidates),
            capped=preview.capped,
            by_reason=preview.by_reason,
            journal_seqs=[c.seq for c in preview.candidates],
            selection_sha256=preview.selection_sha256,
        )


class RedriveQueued(BaseModel):
    """What a confirmation queued for the hub to carry out."""

    queued: int
    redrives: list[int]
    journal_seqs: list[int]
