"""Re-driving dead letters against the real hub, RabbitMQ and PostgreSQL (hub/redrive.py):
a message refused because its key was unknown is re-driven once the key is in the ring and
delivered once; a second re-drive does nothing; only operators re-drive; a "re-drive"
header an adapter forges does nothing; and each party does its part under its own
database role."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aio_pika
import asyncpg
import pytest

from contracts.broker import INGRESS_EXCHANGE, adapter_queue, destinations
from contracts.codes import SystemId
from contracts.keys import KeyRing, generate_key
from contracts.signing import Freshness, Signer
from hub.approvals import Role, Staff
from hub.desk import Desk, DeskError, Forbidden, Refused, Terminal
from hub.journey import journey_key
from hub.pipeline import Triage
from hub.redrive import RedriveState
from hub.service import open_desk
from hub.store.desk import PgDesk
from hub.store.operations import RedriveSelection
from hub.store.postgres import PgStore
from routing.decision import Context
from routing.policy import load_policy
from stack.parties import Party
from tests import harness
from tests.harness import CHIKUSEI, PASSWORD, HubProcess, Services
from tests.integration.test_store import entry
from tests.ops import (
    LATE_KEY_ID,
    add_to_ring,
    journal_seq,
    late_key,
    redrive_done,
    ring_has,
    signed_with,
    unroutable,
)
from tests.probes import drain_queue, fetchval, published, topology_ready, wait_for
from tests.traffic import publish

pytestmark = pytest.mark.integration
TERMINAL = Terminal("192.0.2.30", "pytest-redrive/1.0")
TERMINALS = (f"{TERMINAL.client}/32",)  # the account's terminal (R26/R27)
VRS_QUEUE = adapter_queue(SystemId.VRS, CHIKUSEI)
UNKNOWN_KEY = RedriveSelection(reason_code="unknown_key")


@pytest.fixture
async def desk(services: Services) -> AsyncIterator[Desk]:
    opened = await open_desk(services.settings())
    for user, role in (("doi", Role.OPERATOR), ("aoki", Role.APPROVER)):
        await opened.add_staff(
            user,
            roles=[role],
            municipality=CHIKUSEI,
            department="health-promotion",
            password=PASSWORD,
            terminals=TERMINALS,
        )
    yield opened
    await opened.store.close()


@pytest.fixture
async def hub(services: Services) -> AsyncIterator[HubProcess]:
    process = HubProcess(
        services,
        extra_env={
            "SESSHU_SIGNING__RING_RELOAD_SECONDS": "0.2",
            "SESSHU_DESK__REDRIVE_INTERVAL_SECONDS": "0.2",
            "SESSHU_DESK__EXPIRY_INTERVAL_SECONDS": "0.5",
        },
    ).start()
    try:
        await wait_for(lambda: topology_ready(services), 30, "the hub's topology")
    except AssertionError:
        process.kill()
        raise AssertionError(process.log()) from None
    yield process
    assert process.stop() == 0, process.log()


async def publish_with_headers(
    url: str, body: bytes, kind: str, headers: Mapping[str, str]
) -> None:
    """Publish as an adapter would, with whatever headers it likes (none is signed)."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        exchange = await channel.get_exchange(INGRESS_EXCHANGE)
        await exchange.publish(aio_pika.Message(body, headers=dict(headers)), routing_key=kind)
    finally:
        await connection.close()


async def count(services: Services, sql: str, *args: object) -> int:
    return int(await fetchval(services, sql, *args))


async def test_a_message_refused_for_an_unknown_key_is_redriven_once_after_the_key_is_added(
    services: Services, hub: HubProcess, desk: Desk
) -> None:
    key = late_key()
    message = signed_with(services, key)
    await publish(services.amqp_url, [message.to_bytes()])
    seq = await journal_seq(services, "unknown_key")
    _, doi = await desk.login("doi", PASSWORD, TERMINAL)
    _, aoki = await desk.login("aoki", PASSWORD, TERMINAL)

    # Only operators, only what the hub's side can fix, only with the dry run's digest.
    with pytest.raises(Forbidden, match="not_an_operator"):
        await desk.redrive_preview(aoki, UNKNOWN_KEY)
    with pytest.raises(Forbidden, match="not_an_operator"):
        await desk.redrive(aoki, UNKNOWN_KEY, selection_sha256="0" * 64, terminal=TERMINAL)
    with pytest.raises(DeskError, match="not_redrivable"):
        await desk.redrive_preview(doi, RedriveSelection(reason_code="bad_signature"))
    preview = await desk.redrive_preview(doi, UNKNOWN_KEY)
    assert [c.seq for c in preview.candidates] == [seq]
    assert preview.by_reason == {"unknown_key": 1}
    with pytest.raises(Refused, match="selection_changed"):
        await desk.redrive(doi, UNKNOWN_KEY, selection_sha256="0" * 64, terminal=TERMINAL)
    assert await count(services, "SELECT count(*) FROM redrives") == 0  # a dry run changes nothing

    add_to_ring(services, key)
    await ring_has(services, LATE_KEY_ID)
    ((redrive, of),) = await desk.redrive(
        doi, UNKNOWN_KEY, selection_sha256=preview.selection_sha256, terminal=TERMINAL
    )
    assert of == seq
    assert await redrive_done(services, redrive) == "delivered"
    await wait_for(lambda: published(services), 30, "the re-driven message to go out")
    arrived = await drain_queue(services.amqp_url, VRS_QUEUE)
    assert [m.message_id for m in arrived] == [str(message.id)]
    assert [m.body for m in arrived] == [message.to_bytes()]
    result = await fetchval(services, "SELECT result_seq FROM redrives WHERE id = $1", redrive)
    assert (
        await fetchval(services, "SELECT message_id FROM journal WHERE seq = $1", result)
        == message.id
    )

    # Again: nothing to queue; and a re-drive row that slipped in anyway is a duplicate.
    assert (await desk.redrive_preview(doi, UNKNOWN_KEY)).candidates == ()
    with pytest.raises(Refused, match="nothing_to_redrive"):
        await desk.redrive(
            doi, UNKNOWN_KEY, selection_sha256=preview.selection_sha256, terminal=TERMINAL
        )
    second = await fetchval(
        services,
        "INSERT INTO redrives (journal_seq, requested_by, selection_sha256)"
        " VALUES ($1, 'doi', '') RETURNING id",
        seq,
    )
    assert await redrive_done(services, second) == "duplicate"
    assert (
        await fetchval(services, "SELECT result_seq FROM redrives WHERE id = $1", second) == result
    )
    await asyncio.sleep(1)
    assert await drain_queue(services.amqp_url, VRS_QUEUE) == []
    assert (
        await count(services, "SELECT count(*) FROM journal WHERE message_id = $1", message.id) == 1
    )

    # Audited: who asked, from where, and what came of it; the chain still verifies.
    asked = await fetchval(
        services,
        "SELECT row(actor, terminal->>'client', detail->>'count')::text FROM audit_log"
        " WHERE action = 'redrive.requested'",
    )
    assert asked == f"(doi,{TERMINAL.client},1)"
    done = await count(
        services,
        "SELECT count(*) FROM audit_log WHERE action = 'redrive.done' AND actor = 'system:hub'",
    )
    assert done == 2
    assert (await desk.verify(services.ring()))[1] is None

    # The journey shows both rows as one: the refusal, its re-drive, the delivery.
    journey = await desk.store.journey(journey_key(str(message.id)))
    assert journey is not None
    assert [h.seq for h in journey.hops] == [seq, result]
    assert [r.state for r in journey.redrives] == ["delivered", "duplicate"]
    assert any(e.text == f"re-drive {redrive}: delivered as #{result}" for e in journey.timeline())


async def test_a_redrive_header_forged_by_an_adapter_does_nothing(
    services: Services, hub: HubProcess, desk: Desk
) -> None:
    key = late_key()
    message = signed_with(services, key)
    refused = unroutable(services)
    await publish(services.amqp_url, [message.to_bytes(), refused.to_bytes()])
    seq = await journal_seq(services, "unknown_key")
    await journal_seq(services, "unroutable")
    _, doi = await desk.login("doi", PASSWORD, TERMINAL)
    preview = await desk.redrive_preview(doi, RedriveSelection(journal_seq=seq))
    ((redrive, _),) = await desk.redrive(
        doi,
        RedriveSelection(journal_seq=seq),
        selection_sha256=preview.selection_sha256,
        terminal=TERMINAL,
    )
    # The key is still unknown: refused again, with nothing journaled twice.
    assert await redrive_done(services, redrive) == "refused"
    reason = await fetchval(services, "SELECT reason_code FROM redrives WHERE id = $1", redrive)
    assert reason == "unknown_key"
    rows = await count(services, "SELECT count(*) FROM journal")
    redrives = await count(services, "SELECT count(*) FROM redrives")

    # An adapter replays a refused message with every "re-drive" header it can think of,
    # naming the real re-drive and journal row: headers are no authority.
    add_to_ring(services, key)
    await ring_has(services, LATE_KEY_ID)
    forged = {
        "x-sesshu-redrive": str(redrive),
        "x-sesshu-redrive-of": str(seq),
        "x-sesshu-redriven-by": "doi",
    }
    await publish_with_headers(services.amqp_url, refused.to_bytes(), refused.kind, forged)
    marker = unroutable(services)
    await publish_with_headers(services.amqp_url, marker.to_bytes(), marker.kind, forged)
    await journal_seq(services, "unroutable")
    await wait_for(
        lambda: _rows_reached(services, rows + 1), 30, "the marker journaled (so the replay was)"
    )
    assert await count(services, "SELECT count(*) FROM journal") == rows + 1  # only the marker
    assert await count(services, "SELECT count(*) FROM redrives") == redrives
    assert await drain_queue(services.amqp_url, VRS_QUEUE) == []
    assert (
        await count(services, "SELECT count(*) FROM journal WHERE message_id = $1", message.id) == 0
    )


async def _rows_reached(services: Services, rows: int) -> bool:
    return int(await fetchval(services, "SELECT count(*) FROM journal")) >= rows


# -- each party under its own database role ---------------------------------------------


async def test_the_desk_queues_and_the_hub_carries_out_under_their_own_roles() -> None:
    place = harness.test_place()
    hub_party, desk_party = Party(SystemId.HUB), Party(SystemId.DESK)
    try:
        roles = await place.grant_databases([hub_party, desk_party])
        hub_url = roles[hub_party].url(place.database_url)
        desk_url = roles[desk_party].url(place.database_url)
        store = await PgStore.connect(hub_url)
        try:
            refusal = replace(entry("roles-21", "reject"), reason_code="unknown_key")
            await store.record([refusal])
        finally:
            await store.close()
        operator = Staff("doi", frozenset({Role.OPERATOR}), CHIKUSEI, "ops")
        desk = _desk(await PgDesk.connect(desk_url, size=1))
        try:
            preview = await desk.redrive_preview(operator, UNKNOWN_KEY)
            queued = await desk.redrive(
                operator, UNKNOWN_KEY, selection_sha256=preview.selection_sha256, terminal=TERMINAL
            )
            assert len(queued) == 1
            connection = await asyncpg.connect(desk_url)
            try:
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await connection.execute("UPDATE redrives SET state = 'delivered'")
            finally:
                await connection.close()
        finally:
            await desk.store.close()
        hub = _desk(await PgDesk.connect(hub_url, size=1))
        try:
            (outcome,) = await hub.run_redrives(_triage(), hold_seconds=60)
        finally:
            await hub.store.close()
        # Its bytes are no envelope: refused again, and recorded so under the hub's role.
        assert outcome.state is RedriveState.REFUSED
    finally:
        await place.remove()


def _desk(store: PgDesk) -> Desk:
    key = generate_key(SystemId.HUB, None, valid_from=datetime.now(UTC) - timedelta(days=1))
    return Desk(store, Signer(key.entry.key_id, key.signing), policy_version="test-1")


def _triage() -> Triage:
    return Triage(
        ring=KeyRing([]),
        freshness=Freshness(max_age=timedelta(minutes=15), max_future=timedelta(minutes=1)),
        policy=load_policy(Path(__file__).resolve().parents[2] / "routing/policies/chikusei"),
        context=Context(destinations=destinations([CHIKUSEI])),
    )
