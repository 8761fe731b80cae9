"""What the hub worker tells operators of a batch (hub/telemetry.py): a `process` span per
message continuing the sender's context, the journal commit and each publish as one span
linked to every message's, and the counts and latencies on `/metrics`, exemplars included.
The spans are caught by the SDK's in-memory exporter."""

from __future__ import annotations

import time
import uuid

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from hub.entries import JournalEntry
from hub.ports import OutboxRow
from hub.telemetry import BatchTelemetry, PublishBatch
from observability.metrics import HUB

KIND = "resident_status_flag"
SENDER_SPAN = "00f067aa0ba902b7"


def entry(decision: str = "deliver", reason: str | None = None) -> JournalEntry:
    return JournalEntry(
        dedupe_key=str(uuid.uuid4()),
        canonical=b"{}",
        decision=decision,
        policy_version="test-1",
        reason_code=reason,
        message_id=str(uuid.uuid4()),
        kind=KIND,
        trace_id=uuid.uuid4().hex,
        exchange="sesshu.dead" if decision == "reject" else "sesshu.deliver",
        routing_key="vrs.082279",
        headers={"x-sesshu-kind": KIND},
    )


def carrier(of: JournalEntry) -> dict[str, str]:
    """The AMQP headers the sending adapter wrote: its span in the entry's trace."""
    return {"traceparent": f"00-{of.trace_id}-{SENDER_SPAN}-01"}


def processed(decision: str, reason: str = "none") -> float:
    labels = {"kind": KIND, "decision": decision, "reason": reason}
    return HUB.get_sample_value("sesshu_messages_processed_total", labels) or 0.0


def published(exchange: str, outcome: str) -> float:
    labels = {"exchange": exchange, "outcome": outcome}
    return HUB.get_sample_value("sesshu_messages_published_total", labels) or 0.0


def exemplar_traces(stage: str) -> set[str]:
    """The trace ids of the exemplars of the latency histogram's buckets of a stage."""
    return {
        sample.exemplar.labels["trace_id"]
        for family in HUB.collect()
        if family.name == "sesshu_processing_seconds"
        for sample in family.samples
        if sample.labels.get("stage") == stage and sample.exemplar is not None
    }


def named(spans: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [span for span in spans.get_finished_spans() if span.name == name]


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.span_id)


def attributes(span: ReadableSpan) -> dict[str, object]:
    return dict(span.attributes or {})


def test_each_message_continues_its_senders_trace_and_the_commit_links_them(
    spans: InMemorySpanExporter,
) -> None:
    delivered, refused, again = entry(), entry("reject", "bad_signature"), entry()
    batch = [delivered, refused, again]
    before = processed("delivered"), processed("rejected", "bad_signature")
    before_duplicates = processed("duplicate")
    telemetry = BatchTelemetry.begin(
        batch, [carrier(e) for e in batch], [time.time_ns()] * 3, tracing_on=True
    )
    with telemetry.commit():
        pass
    telemetry.end([delivered, refused])  # `again` was in the journal already

    by_message = {
        attributes(s)["messaging.message.id"]: s for s in named(spans, "process hub.ingress")
    }
    assert set(by_message) == {e.message_id for e in batch}
    for message in batch:
        span = by_message[message.message_id]
        assert span.context is not None
        assert span.parent is not None
        assert format(span.context.trace_id, "032x") == message.trace_id
        assert span.parent.span_id == int(SENDER_SPAN, 16)
        # The journal row's headers name this span: the publish and the recipient go on.
        assert message.headers["traceparent"] == (
            f"00-{message.trace_id}-{span.context.span_id:016x}-01"
        )
        assert attributes(span)["messaging.system"] == "rabbitmq"
        assert attributes(span)["messaging.destination.name"] == "hub.ingress"
    assert attributes(by_message[delivered.message_id])["sesshu.decision"] == "delivered"
    rejected = by_message[refused.message_id]
    assert attributes(rejected)["sesshu.reason"] == "bad_signature"
    assert rejected.status.status_code is StatusCode.ERROR
    assert attributes(by_message[again.message_id])["sesshu.decision"] == "duplicate"

    (commit,) = named(spans, "commit journal")
    assert [link.context.span_id for link in commit.links] == [
        span_id(by_message[e.message_id]) for e in batch
    ]
    assert attributes(commit)["messaging.batch.message_count"] == 3
    assert (processed("delivered"), processed("rejected", "bad_signature")) == (
        before[0] + 1,
        before[1] + 1,
    )
    assert processed("duplicate") == before_duplicates + 1
    # One exemplar a batch (Prometheus keeps one a bucket): the first message's trace.
    traces = exemplar_traces("committed")
    assert delivered.trace_id in traces
    assert not {refused.trace_id, again.trace_id} & traces


def test_a_message_the_journal_split_out_is_counted_and_traced_as_its_refusal(
    spans: InMemorySpanExporter,
) -> None:
    message = entry()
    replacement = entry("reject", "internal_error")
    before = processed("rejected", "internal_error")
    telemetry = BatchTelemetry.begin(
        [message], [carrier(message)], [time.time_ns()], tracing_on=True
    )
    telemetry.end([replacement])
    (span,) = named(spans, "process hub.ingress")
    assert (attributes(span)["sesshu.decision"], attributes(span)["sesshu.reason"]) == (
        "rejected",
        "internal_error",
    )
    assert span.status.status_code is StatusCode.ERROR
    assert processed("rejected", "internal_error") == before + 1


def test_with_tracing_off_nothing_is_traced_and_everything_is_counted(
    spans: InMemorySpanExporter,
) -> None:
    message = entry()
    before = processed("delivered")
    telemetry = BatchTelemetry.begin(
        [message], [carrier(message)], [time.time_ns()], tracing_on=False
    )
    with telemetry.commit():
        pass
    telemetry.end([message])
    assert spans.get_finished_spans() == ()
    assert "traceparent" not in message.headers
    assert telemetry.span_contexts() == {}
    assert processed("delivered") == before + 1


def test_a_publish_is_one_span_per_exchange_linked_to_each_message(
    spans: InMemorySpanExporter,
) -> None:
    messages = [entry(), entry(), entry("reject", "bad_signature")]
    arrived = time.time_ns()
    telemetry = BatchTelemetry.begin(
        messages, [carrier(e) for e in messages], [arrived] * 3, tracing_on=True
    )
    telemetry.end(messages)
    contexts = telemetry.span_contexts()
    rows = [
        OutboxRow(
            seq,
            e.exchange or "",
            "vrs.082279",
            b"{}",
            e.headers,
            e.message_id,
            arrived,
            contexts[id(e)],
        )
        for seq, e in enumerate(messages)
    ]
    # A relayed row (another worker's, read back from the journal): its headers alone.
    relayed = entry()
    relayed.headers["traceparent"] = f"00-{relayed.trace_id}-{'1' * 16}-01"
    rows.append(OutboxRow(9, "sesshu.deliver", "vrs.082279", b"{}", relayed.headers, None))
    before = published("sesshu.deliver", "confirmed"), published("sesshu.deliver", "failed")
    batch = PublishBatch.begin(rows, tracing_on=True)
    batch.end([None, TimeoutError(), None, None])

    sends = {
        attributes(s)["messaging.destination.name"]: s
        for s in spans.get_finished_spans()
        if s.name.startswith("send ")
    }
    assert set(sends) == {"sesshu.deliver", "sesshu.dead"}
    deliver = sends["sesshu.deliver"]
    assert [link.context.span_id for link in deliver.links] == [
        contexts[id(messages[0])].span_id,
        contexts[id(messages[1])].span_id,
        int("1" * 16, 16),
    ]
    assert attributes(deliver)["messaging.batch.message_count"] == 3
    assert deliver.status.status_code is StatusCode.ERROR  # one was not confirmed
    assert sends["sesshu.dead"].status.status_code is StatusCode.UNSET
    assert published("sesshu.deliver", "confirmed") == before[0] + 2
    assert published("sesshu.deliver", "failed") == before[1] + 1
    # The messages keep their own context: the recipient continues the process span.
    assert (
        rows[0].headers["traceparent"].split("-")[2] == f"{contexts[id(messages[0])].span_id:016x}"
    )
    assert messages[0].trace_id in exemplar_traces("confirmed")


def test_with_tracing_off_a_publish_is_counted_only(spans: InMemorySpanExporter) -> None:
    row = OutboxRow(1, "sesshu.deliver", "vrs.082279", b"{}", {}, None, time.time_ns())
    before = published("sesshu.deliver", "confirmed")
    batch = PublishBatch.begin([row], tracing_on=False)
    batch.end([None])
    assert spans.get_finished_spans() == ()
    assert published("sesshu.deliver", "confirmed") == before + 1


def test_a_sender_that_kept_no_spans_is_followed_but_holds_and_refusals_are_kept(
    spans: InMemorySpanExporter,
) -> None:
    # The sender sampled this trace out (flags 00): the hub keeps no spans of a delivery,
    # but carries its trace id on; a refusal it keeps whatever the sender chose.
    delivered, refused = entry(), entry("reject", "bad_signature")
    unsampled = [{"traceparent": f"00-{e.trace_id}-{SENDER_SPAN}-00"} for e in (delivered, refused)]
    telemetry = BatchTelemetry.begin(
        [delivered, refused], unsampled, [time.time_ns()] * 2, tracing_on=True
    )
    telemetry.end([delivered, refused])
    (kept,) = named(spans, "process hub.ingress")
    assert attributes(kept)["messaging.message.id"] == refused.message_id
    assert delivered.headers["traceparent"].startswith(f"00-{delivered.trace_id}-")
    assert delivered.headers["traceparent"].endswith("-00")
    assert refused.headers["traceparent"].endswith("-01")
    # An exemplar names only a trace whose spans were kept.
    assert delivered.trace_id not in exemplar_traces("committed")
