"""One trace from the sending adapter through the hub to the recipient adapter, over the
real broker and database, with the spans caught by the SDK's in-memory exporter; and an
approval that is its own trace, linked to the held message's."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from adapters.kit import make_broker
from adapters.kit.handlers import dispatch
from adapters.ports import InboxTransaction
from adapters.store.db import AdapterDb
from contracts.codes import SystemId
from contracts.envelope import Envelope
from hub.approvals import Role
from hub.service import build_triage, open_desk, open_store
from hub.worker import Worker
from observability import tracing
from tests.harness import PASSWORD, YUKI, Services
from tests.integration.test_bridge_flow import city_bridge, flag_for_vrs
from tests.integration.test_desk import SPAN, TERMINAL, TERMINALS
from tests.probes import fetchval, wait_for
from tests.traffic import provision

pytestmark = pytest.mark.integration


def _named(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]


def _trace_of(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.trace_id)


def _parent_of(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


def _id_of(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.span_id)


async def test_one_trace_from_the_sender_through_the_hub_to_the_recipient(
    services: Services, spans: InMemorySpanExporter
) -> None:
    settings = services.settings()
    store = await open_store(settings)
    assert store is not None
    stop = asyncio.Event()
    worker = Worker(settings, build_triage(settings), store)
    running = asyncio.create_task(worker.run(stop))
    adapters = await AdapterDb.open(services.adapters_database_url)
    received: list[Envelope] = []

    async def handle(envelope: Envelope, transaction: InboxTransaction) -> None:
        received.append(envelope)
        await transaction.record_effect("flag stored")

    try:
        broker = make_broker(services.amqp_url)
        ims = city_bridge(services, broker, adapters, SystemId.HEALTH_MGMT)
        vrs = city_bridge(services, broker, adapters, SystemId.VRS)
        vrs.subscribe(dispatch({"resident_status_flag": handle}))
        await wait_for(lambda: _ready(worker), 30, "the worker's outbox")
        async with broker:
            await broker.start()
            sent = await ims.publish(flag_for_vrs(services))

            async def arrived() -> bool:
                return len(received) == 1 and bool(_named(spans.get_finished_spans(), _VRS))

            await wait_for(arrived, 30, "the flag at VRS")
    finally:
        stop.set()
        await running
        await store.close()
        await adapters.close()

    finished = spans.get_finished_spans()
    (sending,) = _named(finished, "publish sesshu.ingress")
    (processing,) = _named(finished, "process hub.ingress")
    (publishing,) = _named(finished, "send sesshu.deliver")
    (consuming,) = _named(finished, _VRS)
    (commit,) = _named(finished, "commit journal")
    # The envelope carries the sending span's context, signed with it.
    assert sent.traceparent is not None
    assert int(sent.traceparent[3:35], 16) == _trace_of(sending)
    # One trace, each hop the child of the one before.
    hops = [sending, processing, consuming]
    assert {_trace_of(span) for span in hops} == {_trace_of(sending)}
    assert _parent_of(processing) == _id_of(sending)
    assert _parent_of(consuming) == _id_of(processing)
    # The batch's commit and its publish are spans of their own, linked to the message's.
    for batch in (commit, publishing):
        assert [link.context.span_id for link in batch.links] == [_id_of(processing)]
        assert (batch.attributes or {})["messaging.batch.message_count"] == 1
    assert (publishing.attributes or {})["messaging.destination.name"] == "sesshu.deliver"
    attributes = processing.attributes or {}
    assert attributes["messaging.system"] == "rabbitmq"
    assert attributes["messaging.message.id"] == str(sent.id)
    assert (attributes["sesshu.kind"], attributes["sesshu.decision"]) == (
        "resident_status_flag",
        "delivered",
    )
    # Nothing of the person: ids, kinds, queues and decisions, never twelve digits.
    for span in finished:
        for value in (span.attributes or {}).values():
            assert not re.search(r"[0-9]{12}", str(value)), span.name


_VRS = "process adapter.vrs.082279"


async def _ready(worker: Worker) -> bool:
    return worker.outbox is not None


async def test_an_approval_is_its_own_trace_linked_to_the_held_message(
    services: Services, policy_dir: Path, spans: InMemorySpanExporter
) -> None:
    settings = services.settings(SESSHU_ROUTING__POLICY_DIR=str(policy_dir))
    desk = await open_desk(settings)
    try:
        await desk.add_staff(
            "baba",
            roles=[Role.APPROVER],
            municipality=YUKI,
            department="health-promotion",
            password=PASSWORD,
            terminals=TERMINALS,
        )
        held_trace = uuid.uuid4().hex
        signer = services.signer(SystemId.INTERMEDIATE, YUKI)
        reply = signer.sign(
            provision(services).model_copy(update={"traceparent": f"00-{held_trace}-{SPAN}-01"})
        )
        store = await open_store(settings)
        assert store is not None
        try:
            entry = build_triage(settings)(reply.to_bytes(), datetime.now(UTC), reply.kind)
            assert entry.decision == "hold"
            await store.record([entry])
        finally:
            await store.close()
        _, baba = await desk.login("baba", PASSWORD, TERMINAL)
        with tracing.tracer().start_as_current_span("POST /api/held/{message_id}/approve"):
            await desk.approve(baba, str(reply.id), terminal=TERMINAL)
    finally:
        await desk.store.close()

    (approval,) = _named(spans.get_finished_spans(), "approve held message")
    # Its own trace (the desk request's), linked to the held message's.
    assert _trace_of(approval) != int(held_trace, 16)
    assert [format(link.context.trace_id, "032x") for link in approval.links] == [held_trace]
    # The release publish continues the approval's trace, not the two-day-old one.
    headers = await fetchval(
        services,
        "SELECT o.headers FROM outbox o JOIN journal j ON j.seq = o.journal_seq"
        " WHERE j.message_id = $1",
        reply.id,
    )
    released = json.loads(headers)["traceparent"]
    assert int(released[3:35], 16) == _trace_of(approval)
