"""Traces: W3C trace context from the sending adapter through the hub to the recipient.

`configure` installs the OpenTelemetry SDK's tracer provider for a process (with an OTLP
exporter when an endpoint is set, or a given exporter in tests); without it the API's
no-op provider makes no spans and carries no context, which is "tracing off".

Context travels two ways: in the envelope's `traceparent` (signed with it, so the journal's
trace id is the sender's), and in the AMQP header `traceparent` of each publish, which
names the publishing span, so every hop continues the one before. Span attributes are
ids, kinds, decisions and reason codes only: never a payload or a person.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, TraceState
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes

__all__ = [
    "KEPT_DECISIONS",
    "TRACEPARENT",
    "KeepDecisions",
    "configure",
    "context_of",
    "link_to",
    "sampler",
    "span_context_of",
    "traceparent_of",
    "tracer",
]

TRACEPARENT = "traceparent"
_PROPAGATOR = TraceContextTextMapPropagator()


KEPT_DECISIONS: Final = frozenset({"held", "rejected", "approved"})
"""`sesshu.decision` values whose spans are always kept: holds, refusals and a 所属長's
decisions are what a responder looks for, and are few."""


class KeepDecisions(Sampler):
    """Samples every span that starts with a `sesshu.decision` in KEPT_DECISIONS (the hub's
    `process` spans and the desk's decisions carry it from their start), and leaves the
    rest to `otherwise`."""

    def __init__(self, otherwise: Sampler) -> None:
        self._otherwise = otherwise

    def should_sample(  # noqa: PLR0917 - the Sampler interface's signature
        self,
        parent_context: otel_context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        """Keep a decision worth keeping; ask `otherwise` about the rest."""
        if attributes and attributes.get("sesshu.decision") in KEPT_DECISIONS:
            return ALWAYS_ON.should_sample(
                parent_context, trace_id, name, kind, attributes, links, trace_state
            )
        return self._otherwise.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        """What it samples, for the SDK's logs."""
        return f"KeepDecisions{{{self._otherwise.get_description()}}}"


def sampler(ratio: float) -> Sampler:
    """Head sampling that keeps traces whole: a span whose parent was sampled is sampled,
    one whose parent was not is not (unless it is a decision worth keeping), and a trace
    started here is sampled at `ratio` (decisions worth keeping always)."""
    return ParentBased(
        root=KeepDecisions(TraceIdRatioBased(ratio)),
        remote_parent_sampled=ALWAYS_ON,
        remote_parent_not_sampled=KeepDecisions(ALWAYS_OFF),
        local_parent_sampled=ALWAYS_ON,
        local_parent_not_sampled=KeepDecisions(ALWAYS_OFF),
    )


def configure(
    service: str,
    *,
    enabled: bool = True,
    otlp_endpoint: str | None = None,
    exporter: SpanExporter | None = None,
    sample_ratio: float = 1.0,
) -> TracerProvider | None:
    """Install this process's tracer provider, named `service`; spans go to `exporter`
    (at once: tests) or to `otlp_endpoint` (in batches), else nowhere; traces started here
    are kept at `sample_ratio` (see `sampler`). None when off."""
    if not enabled:
        return None
    provider = TracerProvider(
        resource=Resource.create({"service.name": service}), sampler=sampler(sample_ratio)
    )
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint)))
    trace.set_tracer_provider(provider)
    return provider


@functools.cache
def tracer() -> trace.Tracer:
    """The tracer of Sesshu Hub's own spans (a proxy until `configure` sets the provider,
    then the provider's: asked for once, as asking costs more than a span)."""
    return trace.get_tracer("sesshu")


def context_of(carrier: Mapping[str, Any] | None) -> otel_context.Context | None:
    """The trace context a carrier (AMQP headers, a dict with `traceparent`) names, or
    None when it names none or a malformed one."""
    if not carrier:
        return None
    value = carrier.get(TRACEPARENT)
    if not isinstance(value, str):
        return None
    extracted = _PROPAGATOR.extract({TRACEPARENT: value})
    if not trace.get_current_span(extracted).get_span_context().is_valid:
        return None
    return extracted


def span_context_of(traceparent: str | None) -> SpanContext | None:
    """The span a traceparent names, for a link; None for none or a malformed one."""
    extracted = context_of({TRACEPARENT: traceparent})
    if extracted is None:
        return None
    return trace.get_current_span(extracted).get_span_context()


def link_to(traceparent: str | None) -> list[Link]:
    """A link to the span a traceparent names (none for none)."""
    span_context = span_context_of(traceparent)
    return [] if span_context is None else [Link(span_context)]


def traceparent_of(span: Span | None = None) -> str | None:
    """The W3C traceparent of `span` (default: the current one); None without a real one
    (tracing off)."""
    span = span or trace.get_current_span()
    context = span.get_span_context()
    if not context.is_valid:
        return None
    # What the propagator's inject writes, without building a context to carry it.
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
