"""What the hub worker tells its operators about each message: spans and metrics.

Per message, a `process hub.ingress` span continues the context the sending adapter put in
the AMQP headers (the envelope's own `traceparent`, signed with it). Its traceparent goes
into the journal row's headers and from there into the AMQP headers of the message the
outbox publishes (here, or in a relay after a crash), so the recipient continues it; a
release carries the desk's approval instead. The batch's journal commit and each batch
publish (`send <exchange>`) are one span each that links to every message's, as the
OpenTelemetry messaging conventions have it for batches: a message costs one span here.

Attributes and labels hold closed sets (kinds, decisions, reason codes, exchanges) and
ids; never a payload or a person.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol, get_args

from aiormq.exceptions import DeliveryError, PublishError
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, Status, StatusCode

from contracts.broker import INGRESS_QUEUE
from contracts.payloads import MessageKind
from contracts.signing import VerificationError
from hub.entries import JournalEntry
from hub.errors import DatabaseUnavailable
from hub.ports import OutboxRow
from hub.retry import sleep_unless
from observability import tracing
from observability.metrics import Hub, bounded
from routing.decision import ROUTING_CODES

__all__ = [
    "DECISIONS",
    "KINDS",
    "BatchTelemetry",
    "PublishBatch",
    "outcome_of",
    "report_store",
]

log = logging.getLogger("sesshu.hub.decisions")
KINDS = frozenset(get_args(MessageKind))
DECISIONS = {"deliver": "delivered", "hold": "held", "reject": "rejected"}


def _kind(entry: JournalEntry) -> str:
    return bounded(entry.kind, KINDS, none="unknown")


def outcome_of(result: BaseException | None) -> str:
    """A publish's outcome: confirmed, returned (unroutable), nacked, or failed."""
    if result is None:
        return "confirmed"
    if isinstance(result, PublishError):
        return "returned"
    if isinstance(result, DeliveryError):
        return "nacked"
    return "failed"


@dataclass
class BatchTelemetry:
    """The spans and counts of one batch, from triage to commit."""

    tracing: bool
    entries: Sequence[JournalEntry]
    arrived: Sequence[int]
    """time.time_ns() when each message reached the worker."""
    spans: list[Span] = field(default_factory=list)

    @classmethod
    def begin(
        cls,
        entries: Sequence[JournalEntry],
        carriers: Sequence[Mapping[str, Any] | None],
        arrived: Sequence[int],
        *,
        tracing_on: bool,
    ) -> BatchTelemetry:
        """Count the batch in and open a span per message (its traceparent put in the
        entry's headers, so the publish and the recipient continue it)."""
        for kind, count in Counter(_kind(entry) for entry in entries).items():
            _received(kind).inc(count)
        batch = cls(tracing_on, entries, arrived)
        if tracing_on:
            batch.spans = [
                _process_span(entry, carrier, at)
                for entry, carrier, at in zip(entries, carriers, arrived, strict=True)
            ]
        return batch

    def span_contexts(self) -> dict[int, SpanContext]:
        """Each message's `process` span context, by the id() of its entry (none with
        tracing off)."""
        return {
            id(entry): span.get_span_context()
            for entry, span in zip(self.entries, self.spans, strict=False)
        }

    @contextmanager
    def commit(self) -> Iterator[None]:
        """The span of the batch's journal transaction, linked to every message's."""
        if not self.tracing:
            yield
            return
        links = [Link(span.get_span_context()) for span in self.spans]
        with tracing.tracer().start_as_current_span(
            "commit journal",
            links=links,
            attributes={"messaging.batch.message_count": len(self.entries)},
        ):
            yield

    def end(self, new: Sequence[JournalEntry]) -> None:
        """Count each decision, observe the time to commit, and end the message spans.
        `new` is what the journal took: these entries, or in their place the refusal the
        journal split one out as (an internal_error, an id_conflict); an entry neither
        journaled nor replaced was a duplicate."""
        now = time.time_ns()
        own = {id(entry) for entry in self.entries}
        fresh = {id(entry) for entry in new}
        replacements = [entry for entry in new if id(entry) not in own]
        Hub.batches.inc()
        Hub.batch_size.observe(len(self.entries))
        processed: Counter[tuple[str, str, str]] = Counter()
        exemplar = _Exemplar()
        for index, entry in enumerate(self.entries):
            journaled: JournalEntry | None = entry if id(entry) in fresh else None
            if journaled is None and replacements:
                journaled = replacements.pop()
            decision = "duplicate" if journaled is None else DECISIONS[journaled.decision]
            reason = bounded(None if journaled is None else journaled.reason_code, _REASONS)
            processed[_kind(entry), decision, reason] += 1
            _log_decision(entry, decision, reason, self.spans[index] if self.spans else None)
            # An exemplar names a trace whose spans were kept (with tracing off here: the
            # sender's, whatever it kept).
            kept = not self.spans or self.spans[index].get_span_context().trace_flags.sampled
            trace_id = entry.trace_id if kept else None
            _COMMITTED.observe((now - self.arrived[index]) / 1e9, exemplar(trace_id))
            if self.spans:
                span = self.spans[index]
                if journaled is not entry:  # a duplicate, or split out as a refusal
                    span.set_attribute("sesshu.decision", decision)
                    if reason != "none":
                        span.set_attribute("sesshu.reason", reason)
                if reason != "none":
                    span.set_status(Status(StatusCode.ERROR, reason))
                span.end(now)
        for labels, count in processed.items():
            _processed(*labels).inc(count)


class _Exemplar:
    """The exemplar of a batch's first observation that has a trace id, and none for the
    rest: Prometheus keeps one exemplar per bucket (the last), so one per batch shows as
    much and costs a fraction of one per message."""

    given = False

    def __call__(self, trace_id: str | None) -> dict[str, str] | None:
        if self.given or not trace_id:
            return None
        self.given = True
        return {"trace_id": trace_id}


def _log_decision(entry: JournalEntry, decision: str, reason: str, span: Span | None) -> None:
    """Refusals and holds at INFO, each delivery at DEBUG (thousands a second), inside
    the message's span so the line carries its trace id."""
    level = logging.DEBUG if decision in ("delivered", "duplicate") else logging.INFO
    if not log.isEnabledFor(level):
        return
    extra = {"message_id": entry.message_id, "kind": _kind(entry), "decision": decision}
    if reason != "none":
        extra["reason"] = reason
    context = nullcontext() if span is None else trace.use_span(span, end_on_exit=False)
    with context:
        log.log(level, "%s %s: %s", decision, extra["kind"], reason, extra=extra)


def _process_span(entry: JournalEntry, carrier: Mapping[str, Any] | None, at: int) -> Span:
    span = tracing.tracer().start_span(
        f"process {INGRESS_QUEUE}",
        context=tracing.context_of(carrier),
        kind=SpanKind.CONSUMER,
        start_time=at,
        attributes={
            "messaging.system": "rabbitmq",
            "messaging.operation.type": "process",
            "messaging.destination.name": INGRESS_QUEUE,
            "messaging.message.id": entry.message_id or "",
            "sesshu.kind": _kind(entry),
            # What triage decided; end() corrects it for what the journal did instead.
            "sesshu.decision": DECISIONS[entry.decision],
            **({"sesshu.reason": entry.reason_code} if entry.reason_code else {}),
        },
    )
    traceparent = tracing.traceparent_of(span)
    if traceparent is not None:
        entry.headers[tracing.TRACEPARENT] = traceparent
    return span


@dataclass
class PublishBatch:
    """One publish of outbox rows: per exchange, a `send <exchange>` span linked to each
    row's message, as the messaging conventions have it for a batch send. Each message
    keeps the context its row carries (the hub's `process` span, or the desk's approval
    for a release), so the recipient continues that, not the batch."""

    rows: Sequence[OutboxRow]
    spans: dict[str, Span]

    @classmethod
    def begin(cls, rows: Sequence[OutboxRow], *, tracing_on: bool) -> PublishBatch:
        """Open the batch's spans (none with tracing off)."""
        if not tracing_on or not rows:
            return cls(rows, {})
        links: dict[str, list[Link]] = {}
        for row in rows:
            context = row.span or tracing.span_context_of(row.headers.get(tracing.TRACEPARENT))
            group = links.setdefault(row.exchange, [])
            if context is not None:
                group.append(Link(context))
        spans = {
            exchange: tracing.tracer().start_span(
                f"send {exchange}",
                kind=SpanKind.PRODUCER,
                links=group,
                attributes={
                    "messaging.system": "rabbitmq",
                    "messaging.operation.type": "send",
                    "messaging.destination.name": exchange,
                    "messaging.batch.message_count": sum(
                        1 for row in rows if row.exchange == exchange
                    ),
                },
            )
            for exchange, group in links.items()
        }
        return cls(rows, spans)

    def end(self, results: Sequence[BaseException | None]) -> None:
        """Count each row's outcome, observe the time from arrival to confirm, end the
        spans (an error status where any row was not confirmed)."""
        now = time.time_ns()
        failed: set[str] = set()
        published: Counter[tuple[str, str]] = Counter()
        exemplar = _Exemplar()
        for row, result in zip(self.rows, results, strict=True):
            published[bounded(row.exchange, _EXCHANGES), outcome_of(result)] += 1
            if result is not None:
                failed.add(row.exchange)
            elif row.arrived is not None:
                trace_id = _trace_id_of(row.headers.get(tracing.TRACEPARENT))
                _CONFIRMED.observe((now - row.arrived) / 1e9, exemplar(trace_id))
        for labels, count in published.items():
            _published(*labels).inc(count)
        for exchange, span in self.spans.items():
            if exchange in failed:
                span.set_status(Status(StatusCode.ERROR, "not every message was confirmed"))
            span.end(now)


def _trace_id_of(traceparent: object) -> str | None:
    """The trace id of a traceparent the hub wrote (`00-<32 hex>-<16 hex>-<flags>`) whose
    trace was sampled (its spans kept), for an exemplar; else None."""
    if isinstance(traceparent, str) and len(traceparent) == 55 and traceparent[-1] in "13579bdf":
        return traceparent[3:35]
    return None


def _codes_of(error: type[VerificationError]) -> Iterator[str]:
    yield error.code
    for subclass in error.__subclasses__():
        yield from _codes_of(subclass)


def _reason_codes() -> frozenset[str]:
    """Every reason code the hub writes: verification's, routing's, its own."""
    return frozenset(
        (*_codes_of(VerificationError), *ROUTING_CODES, "internal_error", "id_conflict")
    )


_REASONS = _reason_codes()
_EXCHANGES = frozenset({"sesshu.deliver", "sesshu.dead"})


# The labelled children, looked up once per label set: `labels()` costs a lock and a
# tuple each time, per message.
_received = functools.cache(Hub.received.labels)
_processed = functools.cache(Hub.processed.labels)
_published = functools.cache(Hub.published.labels)
_COMMITTED = Hub.latency.labels("committed")
_CONFIRMED = Hub.latency.labels("confirmed")


class Gauged(Protocol):
    """What `report_store` reads: the outbox's lag and the connection pools' use."""

    async def outbox_lag(self) -> tuple[int, float]: ...

    def pool_usage(self) -> tuple[int, int]: ...


async def report_store(store: Gauged, stop: asyncio.Event, interval: float) -> None:
    """Set the outbox depth, its oldest unpublished row's age and the pools' use every
    `interval` seconds until `stop`. The outbox is every worker's (one table), so each
    worker reports the same depth; the pools are this process's own."""
    while not stop.is_set():
        in_use, size = store.pool_usage()
        Hub.pool_in_use.set(in_use)
        Hub.pool_size.set(size)
        try:
            depth, oldest = await store.outbox_lag()
        except DatabaseUnavailable:
            pass  # sesshu_database_up says so; the last figures stand until it answers
        except Exception as exc:  # a gauge's failure must not stop the worker beside it
            log.error("outbox gauges: %s; retrying", type(exc).__name__)
        else:
            Hub.outbox_depth.set(depth)
            Hub.outbox_oldest.set(oldest)
        await sleep_unless(stop, interval)
