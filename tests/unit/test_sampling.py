"""Head sampling (observability.tracing.sampler): traces stay whole, a trace started here is
kept at the ratio, and holds, refusals and a 所属長's decisions are kept always."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from observability.tracing import KEPT_DECISIONS, sampler

TRACE = 0x4BF92F3577B34DA6A3CE929D0E0E4736


def parent(*, sampled: bool, remote: bool = True) -> Context:
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    context = SpanContext(TRACE, 0x00F067AA0BA902B7, is_remote=remote, trace_flags=flags)
    return trace.set_span_in_context(NonRecordingSpan(context))


def kept(ratio: float, context: Context | None = None, decision: str | None = None) -> bool:
    attributes = {"sesshu.decision": decision} if decision else None
    result = sampler(ratio).should_sample(context, TRACE, "span", attributes=attributes)
    return result.decision is Decision.RECORD_AND_SAMPLE


def test_a_trace_started_here_is_kept_at_the_ratio() -> None:
    assert kept(1.0)
    assert not kept(0.0)
    traces = range(1, 2**64, 2**64 // 2000)
    decisions = [sampler(0.25).should_sample(None, (7 << 64) | t, "span").decision for t in traces]
    share = decisions.count(Decision.RECORD_AND_SAMPLE) / len(traces)
    assert 0.2 < share < 0.3


@pytest.mark.parametrize("remote", [True, False])
def test_a_span_follows_its_parents_choice(remote: bool) -> None:
    assert kept(0.0, parent(sampled=True, remote=remote))
    assert not kept(1.0, parent(sampled=False, remote=remote))


@pytest.mark.parametrize("decision", sorted(KEPT_DECISIONS))
@pytest.mark.parametrize("remote", [True, False])
def test_holds_refusals_and_approvals_are_kept_whatever_the_ratio_or_the_parent(
    decision: str, remote: bool
) -> None:
    assert kept(0.0, decision=decision)
    assert kept(0.0, parent(sampled=False, remote=remote), decision)


def test_a_delivery_is_not_a_decision_worth_keeping() -> None:
    assert {"held", "rejected", "approved"} == KEPT_DECISIONS
    assert not kept(0.0, decision="delivered")
    assert not kept(0.0, parent(sampled=False), "duplicate")
