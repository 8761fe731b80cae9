"""One suite for both implementations of the hub's storage ports, plus the migrations."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta

import asyncpg
import pytest

from hub.entries import JournalEntry
from hub.errors import DatabaseUnavailable
from hub.ports import OutboxRow
from hub.store.memory import MemoryStore
from hub.store.postgres import _JOURNAL_COLUMNS, MIGRATIONS_DIR, PgStore
from hub.store.queries import query as hub_query
from hub.telemetry import report_store
from observability.metrics import HUB
from storekit.migrate import migrations
from tests.harness import Services

pytestmark = pytest.mark.integration


def entry(key: str, decision: str = "deliver") -> JournalEntry:
    exchange = {"deliver": "sesshu.deliver", "reject": "sesshu.dead", "hold": None}[decision]
    return JournalEntry(
        dedupe_key=key,
        canonical=f'{{"k":"{key}"}}'.encode(),
        decision=decision,
        policy_version="test-1",
        reason_code={"reject": "bad_signature", "hold": "auto_response_disabled"}.get(decision),
        reason=None if decision == "deliver" else "a reason",
        message_id=f"019abf3c-2a00-7000-8000-{int(key.rsplit('-', 1)[-1]):012d}",
        municipality="082279",
        exchange=exchange,
        routing_key="vrs.082279",
        department="health-promotion" if decision == "hold" else None,
        headers={"x-sesshu-kind": "resident_status_flag"},
    )


CLAIM = 0.3  # seconds: short, so the relay's turn comes within the test


@pytest.fixture(params=["memory", "postgres"])
async def store(
    request: pytest.FixtureRequest, services: Services
) -> AsyncIterator[MemoryStore | PgStore]:
    if request.param == "memory":
        yield MemoryStore(claim_seconds=CLAIM)
        return
    pg = await PgStore.connect(services.database_url, claim_seconds=CLAIM)
    await pg.migrate()
    yield pg
    await pg.close()


async def test_record_journals_once_and_queues_what_has_an_exchange(
    store: MemoryStore | PgStore,
) -> None:
    first = await store.record([entry("id-1"), entry("id-2", "reject"), entry("id-3", "hold")])
    assert set(first) == {"id-1", "id-2", "id-3"}
    assert first["id-3"] is None
    assert first["id-1"] is not None
    assert first["id-2"] is not None
    again = await store.record([entry("id-1"), entry("id-4")])
    assert set(again) == {"id-4"}


class Recorder:
    """A publisher that confirms everything (or nothing) and remembers what it got."""

    def __init__(self, *, confirm: bool = True) -> None:
        self.sent: list[OutboxRow] = []
        self.confirm = confirm

    async def __call__(self, rows: Sequence[OutboxRow]) -> list[int]:
        self.sent.extend(rows)
        return [row.seq for row in rows] if self.confirm else []


async def test_the_relay_takes_only_rows_whose_claim_ran_out(store: MemoryStore | PgStore) -> None:
    new = await store.record([entry("id-1"), entry("id-2")])
    relayed = Recorder()
    assert await store.relay(relayed, limit=10) == 0  # still the writer's
    first = new["id-1"]
    assert first is not None
    await store.mark_published([first])
    await asyncio.sleep(CLAIM + 0.1)
    assert await store.relay(relayed, limit=10) == 1
    assert [row.body for row in relayed.sent] == [b'{"k":"id-2"}']
    assert relayed.sent[0].exchange == "sesshu.deliver"
    assert relayed.sent[0].headers == {"x-sesshu-kind": "resident_status_flag"}
    assert await store.relay(relayed, limit=10) == 0


async def test_a_writer_renews_its_claim_only_while_it_holds_it(
    store: MemoryStore | PgStore,
) -> None:
    new = await store.record([entry("id-1")])
    seq = new["id-1"]
    assert seq is not None
    assert await store.extend_claims([seq]) == [seq]
    await asyncio.sleep(CLAIM + 0.1)
    assert await store.extend_claims([seq]) == []  # ran out: the relay's now
    assert await store.relay(Recorder(), limit=10) == 1
    assert await store.extend_claims([seq]) == []  # published


async def test_rows_the_broker_did_not_confirm_go_out_again_after_the_claim(
    store: MemoryStore | PgStore,
) -> None:
    await store.record([entry("id-1")])
    await asyncio.sleep(CLAIM + 0.1)
    assert await store.relay(Recorder(confirm=False), limit=10) == 0
    assert await store.relay(Recorder(), limit=10) == 0  # the failed relay's claim holds
    await asyncio.sleep(CLAIM + 0.1)
    assert await store.relay(Recorder(), limit=10) == 1


async def test_a_hold_is_held_once_with_its_expiry(services: Services) -> None:
    pg = await PgStore.connect(services.database_url, hold_seconds=3600)
    await pg.migrate()
    try:
        await pg.record([entry("id-1", "hold"), entry("id-2")])
        await pg.record([entry("id-1", "hold")])
        (held,) = await pg.held("082279")
        assert held.message_id == entry("id-1").message_id
        assert held.routing_key == "vrs.082279"
        assert held.reason_code == "auto_response_disabled"
        assert held.expires_at - held.held_at == timedelta(hours=1)
        assert await pg.held("082074") == []
    finally:
        await pg.close()


async def test_concurrent_relays_never_publish_the_same_row(services: Services) -> None:
    pg = await PgStore.connect(services.database_url, size=4, claim_seconds=CLAIM)
    await pg.migrate()
    try:
        await pg.record([entry(f"id-{i}") for i in range(300)])
        await asyncio.sleep(CLAIM + 0.1)
        seen: list[int] = []

        async def slow_publish(rows: Sequence[OutboxRow]) -> list[int]:
            await asyncio.sleep(0.1)
            seen.extend(row.seq for row in rows)
            return [row.seq for row in rows]

        counts = list(await asyncio.gather(*(pg.relay(slow_publish, limit=50) for _ in range(8))))
        while sum(counts) < 300:
            counts.append(await pg.relay(slow_publish, limit=50))
        assert len(seen) == len(set(seen)) == 300
    finally:
        await pg.close()


async def test_migrations_produce_the_schema_the_code_expects(services: Services) -> None:
    pg = await PgStore.connect(services.database_url)
    try:
        assert await pg.migrate() == [
            f"{m.number:04d}_{m.name}" for m in migrations(MIGRATIONS_DIR)
        ]
        assert await pg.migrate() == []  # idempotent
    finally:
        await pg.close()
    connection = await asyncpg.connect(services.database_url)
    try:
        columns = {
            (r["table_name"], r["column_name"])
            for r in await connection.fetch(
                "SELECT table_name, column_name FROM information_schema.columns"
                " WHERE table_schema = 'public'"
            )
        }
        journal = {c for t, c in columns if t == "journal"}
        # What is not a journal column goes to the outbox, the held row or the 情報提供等記録.
        elsewhere = {"exchange", "routing_key", "headers", "department", "originated_by"}
        elsewhere |= {"direction", "data_items"}
        assert set(_JOURNAL_COLUMNS) - elsewhere <= journal
        assert set(JournalEntry.__slots__) - elsewhere <= journal
        held = {c for t, c in columns if t == "held_messages"}
        assert {"routing_key", "department", "originated_by"} <= held
        records = {c for t, c in columns if t == "provision_records"}
        assert {"direction", "data_items"} <= records
        # The adapters' tables live in the adapters' own databases, never here.
        assert not {t for t, _ in columns} & {"adapter_inbox", "adapter_effects"}
        schemas = {r["nspname"] for r in await connection.fetch("SELECT nspname FROM pg_namespace")}
        assert not schemas & {"intermediate", "ims", "vrs", "nws"}
        # Every named query of the hub is valid SQL against the hub's schema.
        for name, sql in hub_query.texts.items():
            try:
                await connection.prepare(sql)
            except asyncpg.PostgresError as exc:
                pytest.fail(f"query {name} does not fit the hub's schema: {exc}")
    finally:
        await connection.close()


async def test_an_unreachable_database_is_database_unavailable() -> None:
    with pytest.raises(DatabaseUnavailable):
        await PgStore.connect("postgresql://postgres@127.0.0.1:1/nowhere")


async def test_the_outbox_and_pool_gauges_show_what_waits(services: Services) -> None:
    # What /metrics says of the outbox comes from the table, not from this worker's memory.
    pg = await PgStore.connect(services.database_url, claim_seconds=CLAIM)
    try:
        await pg.migrate()

        async def reported() -> tuple[float, float, float, float]:
            stop = asyncio.Event()
            loop = asyncio.create_task(report_store(pg, stop, interval=60))
            await asyncio.sleep(0.2)  # one reading, then it sleeps
            stop.set()
            await loop
            names = ("outbox_depth", "outbox_oldest_unpublished_seconds", "db_pool_in_use")
            depth, oldest, in_use = (HUB.get_sample_value(f"sesshu_{name}") for name in names)
            size = HUB.get_sample_value("sesshu_db_pool_size")
            assert None not in (depth, oldest, in_use, size)
            return depth or 0, oldest or 0, in_use or 0, size or 0

        new = await pg.record([entry("id-1"), entry("id-2", "reject"), entry("id-3", "hold")])
        await asyncio.sleep(0.3)
        depth, oldest, in_use, size = await reported()
        assert depth == 2  # the hold has no outbox row until it is released
        assert 0.3 <= oldest < 60
        assert 0 <= in_use <= size
        assert size >= 2  # the two pools (synchronous and relaxed commits)
        await pg.mark_published([seq for seq in new.values() if seq is not None])
        depth, oldest, _, _ = await reported()
        assert (depth, oldest) == (0, 0)
    finally:
        await pg.close()
