"""One suite for both implementations of the intermediate server's ports: the 符号
registry (F5) and the 副本 store (F4), in memory and in PostgreSQL (schema
`intermediate`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date

import pytest

from adapters.intermediate.fukuhon import MemoryFukuhon, reconcile
from adapters.intermediate.linkage import MemoryLinkage, acquire
from adapters.ports import FukuhonStore, LinkageRegistry
from adapters.store.intermediate import PgFukuhon, PgLinkage
from contracts.codes import InternalPersonNumber
from contracts.payloads import DoseHistoryItem, FukuhonRegistration
from tests.harness import adapter_database

pytestmark = pytest.mark.integration
ITEM = "vaccination.history"
PERSON = InternalPersonNumber("1000234567")


@dataclass
class Stores:
    linkage: LinkageRegistry
    fukuhon: FukuhonStore


@pytest.fixture(params=["memory", "postgres"])
async def stores(request: pytest.FixtureRequest) -> AsyncIterator[Stores]:
    if request.param == "memory":
        yield Stores(MemoryLinkage(), MemoryFukuhon())
        return
    async with adapter_database() as (db, _):
        yield Stores(PgLinkage(db), PgFukuhon(db))


def dose(n: int, day: date) -> DoseHistoryItem:
    return DoseHistoryItem.model_validate(
        {"vaccine_type": "COVID19", "dose_number": n, "administered_on": day, "lot_number": "AB12"}
    )


async def test_codes_are_stable_per_agency_and_concurrent_acquisitions_agree(
    stores: Stores,
) -> None:
    codes = await asyncio.gather(*(acquire(stores.linkage, "082279", PERSON) for _ in range(8)))
    assert len(set(codes)) == 1
    other = await acquire(stores.linkage, "mhlw", PERSON)
    assert other != codes[0]
    assert await stores.linkage.person_for("082279", codes[0]) == PERSON
    assert await stores.linkage.person_for("mhlw", codes[0]) is None
    assert await stores.linkage.code_for("082279", InternalPersonNumber("42")) is None


async def test_fukuhon_upsert_view_delete_and_reconcile(stores: Stores) -> None:
    first, second = dose(1, date(2021, 6, 1)), dose(2, date(2021, 7, 1))
    store = stores.fukuhon
    await store.apply(FukuhonRegistration(person="100", data_item=ITEM, history=(second, first)))
    await store.apply(FukuhonRegistration(person="200", data_item=ITEM, history=(first,)))
    await store.apply(FukuhonRegistration(person="200", data_item=ITEM, history=(first, second)))
    await store.apply(FukuhonRegistration(person="300", data_item=ITEM, history=(first,)))
    await store.apply(FukuhonRegistration(person="300", data_item=ITEM, operation="delete"))
    assert await store.history("100", ITEM) == (first, second)
    assert await store.history("300", ITEM) is None
    everything = await store.everything(ITEM)
    assert sorted(everything) == ["100", "200"]
    assert reconcile(everything, {"100": [first, second], "200": [first, second]}) == []


async def test_postgres_keeps_no_resident_code_of_a_fukuhon_registration() -> None:
    # The 住民票コード travels with a new subject's registration for its 符号 (F5); the 副本
    # keeps the doses only, so there is nothing of it to seal (R48).
    code = "40718290001"
    async with adapter_database() as (db, _):
        await PgFukuhon(db).apply(
            FukuhonRegistration(
                person="100",
                data_item=ITEM,
                history=(dose(1, date(2021, 6, 1)),),
                resident_code=code,
            )
        )
        rows = await db.fetch("SELECT row_to_json(f)::text AS kept FROM intermediate.fukuhon f")
    assert len(rows) == 1
    assert code not in rows[0]["kept"]
