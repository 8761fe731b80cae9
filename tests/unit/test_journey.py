"""A journey laid out (hub/journey.py, hub/cli_trace.py): what a trace is asked for, the
timeline's order, JSON, and the terminal's lines; no I/O."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from hub.cli_trace import render
from hub.journey import AuditEvent, HeldStep, Hop, Journey, Publish, Redrive, journey_key

T0 = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
MESSAGE = "019abf3c-2a00-7000-8000-000000000001"


def test_a_trace_is_asked_for_by_id_or_journal_seq() -> None:
    assert journey_key(MESSAGE.upper()).uuid == MESSAGE
    assert journey_key("#42").seq == 42
    assert journey_key("seq:7").seq == 7
    for bad in ("", "42", "#x", "not-an-id", "#" + "9" * 19):
        with pytest.raises(ValueError, match="UUID"):
            journey_key(bad)


def _hop(seq: int, at: datetime, **changes: object) -> Hop:
    fields: dict[str, object] = {
        "seq": seq,
        "message_id": MESSAGE,
        "kind": "provision_response",
        "sender_system": "intermediate",
        "municipality": "082074",
        "recipient_system": "nws",
        "recipient_municipality": "082074",
        "procedure": "B2-115-2",
        "data_items": ("vaccination.history",),
        "correlation_id": MESSAGE,
        "causation_id": None,
        "key_id": "k",
        "sent_at": at,
        "received_at": at,
        "decision": "deliver",
        "reason_code": None,
        "reason": None,
        "policy_version": "p1",
        "trace_id": None,
        "pruned": False,
    }
    return Hop(**(fields | changes))  # type: ignore[arg-type]


def journey() -> Journey:
    held = HeldStep(
        "released",
        "auto_response_disabled",
        "hp",
        T0,
        T0 + timedelta(days=3),
        "aoki",
        T0 + timedelta(minutes=5),
        T0 + timedelta(minutes=5),
    )
    out = Publish(
        "sesshu.deliver",
        "nws.082074",
        T0 + timedelta(minutes=5),
        T0 + timedelta(minutes=5, seconds=1),
        1,
    )
    reply = _hop(
        1, T0, decision="hold", reason_code="auto_response_disabled", held=held, publishes=(out,)
    )
    attestation = _hop(
        2,
        T0 + timedelta(minutes=5),
        message_id="019abf3c-2a00-7000-8000-000000000002",
        kind="approval_attestation",
    )
    refused = _hop(
        3,
        T0 - timedelta(minutes=1),
        message_id=None,
        correlation_id=None,
        decision="reject",
        reason_code="unknown_key",
    )
    redrive = Redrive(9, 3, "doi", T0 - timedelta(seconds=30), "delivered", T0, 1, None, None)
    audit = (
        AuditEvent(1, T0 + timedelta(minutes=1), "aoki", "held.viewed", MESSAGE, {}),
        AuditEvent(
            2, T0 + timedelta(minutes=5), "aoki", "held.approved", MESSAGE, {"attestation": "x"}
        ),
        AuditEvent(3, T0 + timedelta(minutes=6), "doi", "ops.journey.viewed", MESSAGE, {}),
    )
    return Journey(
        journey_key(MESSAGE), (refused, reply, attestation), audit=audit, redrives=(redrive,)
    )


def test_the_timeline_is_in_order_and_a_decision_comes_before_what_it_caused() -> None:
    events = [(e.seq, e.what, e.text) for e in journey().timeline()]
    assert events[0] == (
        3,
        "received",
        "provision_response intermediate.082074 → nws.082074: reject unknown_key",
    )
    whats = [what for _, what, _ in events]
    assert (
        whats.index("redrive") < whats.index("held") < whats.index("audit") < whats.index("decided")
    )
    decided = whats.index("decided")
    assert events[decided] == (1, "decided", "approved by aoki")
    assert events[decided + 1][1] == "released"
    assert (2, "received") in [(s, w) for s, w, _ in events[decided:]]
    texts = [text for _, _, text in events]
    assert "re-drive 9: delivered as #1" in texts
    assert not any("journey.viewed" in t or "held.approved" in t for t in texts)


def test_json_and_text_show_metadata_and_the_hops() -> None:
    document = journey().as_json()
    assert json.loads(json.dumps(document)) == document
    assert [m["seq"] for m in document["messages"]] == [3, 1, 2]
    assert document["messages"][1]["held"]["decided_by"] == "aoki"
    assert document["correlation_ids"] == [MESSAGE]
    lines = list(render(journey()))
    assert lines[0] == f"journey of {MESSAGE}: 3 message(s), correlation {MESSAGE}"
    assert "  #3 #3  provision_response  intermediate.082074 → nws.082074" in lines
    assert any("decision  reject (unknown_key)" in line for line in lines)
    assert any("outbox    sesshu.deliver nws.082074" in line for line in lines)
