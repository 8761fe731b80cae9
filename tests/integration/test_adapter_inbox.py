"""The adapters' inbox (one suite, in memory and on PostgreSQL) and the adapters' schema."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from adapters.kit.stored import MemoryInbox
from adapters.ports import AdapterInbox
from adapters.store.db import AdapterDb
from adapters.store.queries import MIGRATIONS_DIR
from adapters.store.queries import query as adapter_query
from storekit.migrate import migrations
from tests.harness import adapter_database


@pytest.fixture
async def adapter_db() -> AsyncIterator[tuple[AdapterDb, str]]:
    async with adapter_database() as made:
        yield made


@pytest.fixture(params=["memory", "postgres"])
async def inbox(request: pytest.FixtureRequest) -> AsyncIterator[AdapterInbox]:
    if request.param == "memory":
        yield MemoryInbox()
        return
    async with adapter_database() as (db, _):
        yield db


async def test_the_adapter_inbox_admits_a_message_once_and_rolls_back_with_its_handler(
    inbox: AdapterInbox,
) -> None:
    message = "019abf3c-2a00-7000-8000-000000000009"

    async def failing_handler() -> None:
        async with inbox.first_time("adapter.vrs.082279", message) as transaction:
            assert transaction.fresh
            await transaction.record_effect("seen")
            raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError):
        await failing_handler()
    async with inbox.first_time("adapter.vrs.082279", message) as transaction:
        assert transaction.fresh  # the failed attempt left nothing behind
        await transaction.record_effect("seen")
    async with inbox.first_time("adapter.vrs.082279", message) as transaction:
        assert not transaction.fresh
    async with inbox.first_time("adapter.vrs.082074", message) as transaction:
        assert transaction.fresh  # dedupe is per consumer


async def test_the_adapter_migrations_are_applied_once_and_every_query_fits(
    adapter_db: tuple[AdapterDb, str],
) -> None:
    connection = await asyncpg.connect(adapter_db[1])
    try:
        applied = await connection.fetch("SELECT number FROM schema_migrations ORDER BY number")
        assert [r["number"] for r in applied] == [m.number for m in migrations(MIGRATIONS_DIR)]
        for name, sql in adapter_query.texts.items():
            try:
                await connection.prepare(sql)
            except asyncpg.PostgresError as exc:
                pytest.fail(f"query {name} does not fit the adapters' schema: {exc}")
    finally:
        await connection.close()


async def test_what_waits_for_the_commit_runs_once_it_committed_never_after_a_rollback(
    inbox: AdapterInbox,
) -> None:
    message = "019abf3c-2a00-7000-8000-00000000000a"
    ran: list[str] = []

    async def failing_handler() -> None:
        async with inbox.first_time("adapter.vrs.082279", message) as transaction:
            transaction.on_commit(lambda: ran.append("rolled back"))
            raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError):
        await failing_handler()
    async with inbox.first_time("adapter.vrs.082279", message) as transaction:
        await transaction.record_effect("seen")
        transaction.on_commit(lambda: ran.append("committed"))
        assert ran == []  # not yet: the transaction is open
    assert ran == ["committed"]
