"""Encryption at rest in a city's adapter database (R48), against the real PostgreSQL:
every store filled with synthetic people through the real stores, then a `pg_dump` of the
database searched for their My Numbers, 住民票コード, names, addresses and birth dates; a
ciphertext moved to another row or column, a wrong key and a missing one; a rotation of the
data key, after which the old key is gone and everything still reads and is still found;
and the migration run on a database made before it."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from typer.testing import CliRunner

from adapters.health_mgmt.simulator import Town
from adapters.intermediate.linkage import new_linkage_code
from adapters.store.atrest import KEY_SUFFIX, DataKey, DataKeys, SealBroken
from adapters.store.db import AdapterDb
from adapters.store.intermediate import PgFukuhon, PgLinkage
from adapters.store.queries import MIGRATIONS_DIR
from adapters.store.sealed import key_usage, rekey
from adapters.store.systems import PgIntermediateBook, PgNetworkBook, PgResidents, PgVrsBook
from contracts.codes import InternalPersonNumber
from contracts.payloads import DoseHistoryItem, FukuhonRegistration
from hub.cli import app
from stack.keys import provision_keys
from stack.provision import PG_TLS_ROOT, Place
from storekit.migrate import migrate
from tests.harness import adapter_database, adapters_base
from tests.probes import pg_dump

pytestmark = pytest.mark.integration

CITY = "082279"
ITEM = "vaccination.history"
runner = CliRunner()


@dataclass
class City:
    """A city's adapter database of the test's own, and its data keys."""

    db: AdapterDb
    dsn: str
    keys: DataKeys

    @property
    def residents(self) -> PgResidents:
        return PgResidents(self.db, self.keys)

    @property
    def vrs(self) -> PgVrsBook:
        return PgVrsBook(self.db, self.keys)


@pytest.fixture
async def city() -> AsyncIterator[City]:
    async with adapter_database(CITY) as (db, dsn):
        yield City(db, dsn, DataKeys.fresh(CITY))


def people(count: int, seed: int = 48) -> list[dict[str, Any]]:
    """Synthetic residents (Faker ja_JP, valid My Numbers, 住民票コード) as the address
    system's rows become the register's: dates as dates, no ticket as None."""
    made = Town(CITY, seed=seed).residents(count)
    made[-1] |= {"ticket_number": "", "ticket_issued_on": ""}  # one not yet ticketed
    return [
        p
        | {
            "birth_date": date.fromisoformat(p["birth_date"]),
            "ticket_number": p["ticket_number"] or None,
            "ticket_issued_on": date.fromisoformat(p["ticket_issued_on"])
            if p["ticket_issued_on"]
            else None,
            "status": "resident",
            "status_on": None,
        }
        for p in made
    ]


def numbered(i: int) -> bool:
    """Whether `fill` gives VRS the i-th person's My Number (a target may come without)."""
    return i % 3 != 2


def target_of(person: dict[str, Any], *, my_number: bool = True) -> dict[str, Any]:
    return {k: person[k] for k in ("basic_code", "ticket_number", "name", "name_kana")} | {
        "my_number": person["my_number"] if my_number else None,
        "birth_date": person["birth_date"],
        "sex": person["sex"],
        "address": person["address"],
        "ticket_issued_on": person["ticket_issued_on"],
    }


def dose(n: int) -> DoseHistoryItem:
    return DoseHistoryItem.model_validate(
        {"vaccine_type": "COVID19", "dose_number": n, "administered_on": date(2025, 10, n)}
    )


async def fill(city: City, folks: list[dict[str, Any]]) -> None:
    """Every store of the database, through the real stores, as the adapters fill them."""
    book, fukuhon, linkage = PgIntermediateBook(city.db), PgFukuhon(city.db), PgLinkage(city.db)
    network, secret = PgNetworkBook(city.db), b"\x07" * 32
    for i, person in enumerate(folks):
        await city.residents.put(person)
        await city.residents.put_dose(person["person"], dose(1).model_dump())
        await city.residents.mark_coded(person["person"])
        await fukuhon.apply(
            FukuhonRegistration(
                person=person["person"],
                data_item=ITEM,
                history=(dose(1),),
                resident_code=person["resident_code"],
            )
        )
        code = new_linkage_code()
        await linkage.put(CITY, InternalPersonNumber(person["person"]), code)
        individual = hmac.new(secret, person["resident_code"].encode(), hashlib.sha256).digest()
        await network.put_code(CITY, str(code), individual)
        inquiry = uuid.uuid4()
        now = datetime.now(UTC)
        await book.put_inquiry(inquiry, person["person"], "082074", "B2-115-2", ITEM, now)
        result = {"person": person["person"], "history": [dose(1).model_dump(mode="json")]}
        await book.finish(inquiry, "provided", result, now, now + timedelta(days=3))
        if person["ticket_number"] is None:
            continue
        await city.vrs.put_target(target_of(person, my_number=numbered(i)))
        await city.vrs.put_dose(person["ticket_number"], 1, {"dose_number": 1}, "site")
        await city.vrs.put_transfer(uuid.uuid4(), "082074", person["ticket_number"])


def personal_values(person: dict[str, Any]) -> dict[str, str]:
    """What must not be found in a dump, by a name for it (never printed with its value)."""
    born: date = person["birth_date"]
    values = {
        "my_number": person["my_number"],
        "resident_code": person["resident_code"],
        "name": person["name"],
        "name_kana": person["name_kana"],
        "address": person["address"],
        "birth_date": born.isoformat(),
        "birth_date_compact": born.strftime("%Y%m%d"),
        "birth_date_slashes": born.strftime("%Y/%m/%d"),
        "birth_date_japanese": f"{born.year}年{born.month}月{born.day}日",
    }
    # Each part of a name alone too (family, given), where long enough to mean something.
    for field in ("name", "name_kana"):
        for n, part in enumerate(person[field].split()):
            if len(part) >= 2:
                values[f"{field}_part{n}"] = part
    return values


def leaks(dump: str, folks: list[dict[str, Any]]) -> list[str]:
    """`person#i.field` for each personal value found in the dump (the value not shown)."""
    return [
        f"person#{i}.{field}"
        for i, person in enumerate(folks)
        for field, value in personal_values(person).items()
        if value in dump
    ]


async def test_a_dump_of_a_filled_database_holds_no_personal_value(city: City) -> None:
    folks = people(8)
    await fill(city, folks)
    dump = await pg_dump(city.dsn)
    # The dump does hold the rows: the city's own reference numbers are there in the clear.
    for person in folks:
        assert f"{person['person']}\t" in dump
    assert leaks(dump, folks) == []
    # And the stores read it all back as it was given.
    for i, person in enumerate(folks):
        kept = await city.residents.get(person["person"])
        assert kept is not None
        assert {k: kept[k] for k in personal_values(person) if k in kept} == {
            k: person[k] for k in personal_values(person) if k in kept
        }
        assert (kept["birth_date"], kept["sex"]) == (person["birth_date"], person["sex"])
        if person["ticket_number"] and numbered(i):
            found = await city.vrs.target(my_number=person["my_number"])
            assert found is not None
            assert found["basic_code"] == person["basic_code"]


async def test_the_plaintext_is_not_searchable_and_the_index_is_keyed(city: City) -> None:
    (person, *_) = people(2)
    await fill(city, [person])
    connection = await asyncpg.connect(city.dsn)
    try:
        row = await connection.fetchrow(
            "SELECT * FROM vrs.targets WHERE basic_code = $1", person["basic_code"]
        )
        assert row is not None
        assert all(isinstance(row[c], bytes) for c in ("my_number", "name", "address"))
        # The index is HMAC under this city's key: neither the number nor its plain hash.
        assert row["my_number_index"] != hashlib.sha256(person["my_number"].encode()).digest()
        other = DataKeys.fresh(CITY).index(person["my_number"], "vrs.targets.my_number")
        assert row["my_number_index"] != other
    finally:
        await connection.close()
    # The index finds the number however it is written (full-width, grouped).
    wide = "-".join(person["my_number"][i : i + 4] for i in (0, 4, 8)).translate(
        str.maketrans("0123456789", "０１２３４５６７８９")
    )
    found = await city.vrs.target(my_number=wide)
    assert found is not None
    assert found["my_number"] == person["my_number"]


async def swap(city: City, table: str, key: str, columns: str, *rows: str) -> None:
    """Exchange columns (comma-separated) between two rows, as someone with SQL could."""
    a, b = rows
    assignments = ", ".join(f"{c} = o.{c}" for c in columns.split(","))
    await city.db.execute(
        f"UPDATE {table} AS t SET {assignments} FROM {table} AS o"  # noqa: S608 - constants
        f" WHERE (t.{key}, o.{key}) IN (($1, $2), ($2, $1))",
        a,
        b,
    )


async def test_a_ciphertext_moved_to_another_row_or_column_does_not_open(city: City) -> None:
    first, second, *_ = people(3)
    await fill(city, [first, second])
    await swap(city, "ims.residents", "person", "name", first["person"], second["person"])
    with pytest.raises(SealBroken) as moved:
        await city.residents.get(first["person"])
    assert str(moved.value).startswith("ims.residents.name: ")
    with pytest.raises(SealBroken):
        await city.residents.by_basic_code(second["basic_code"])
    await swap(city, "ims.residents", "person", "name", first["person"], second["person"])
    assert await city.residents.get(first["person"]) is not None  # back where it belongs
    # Within one row, from one column to another.
    await city.db.execute(
        "UPDATE ims.residents SET address = name WHERE person = $1", first["person"]
    )
    with pytest.raises(SealBroken) as across:
        await city.residents.get(first["person"])
    assert str(across.value).startswith("ims.residents.address: ")
    # VRS's My Number moved with its index: the index finds the other row, where the
    # number does not open.
    codes = (first["basic_code"], second["basic_code"])
    await swap(city, "vrs.targets", "basic_code", "my_number,my_number_index", *codes)
    with pytest.raises(SealBroken) as target:
        await city.vrs.target(my_number=first["my_number"])
    assert str(target.value).startswith("vrs.targets.my_number: ")
    for error in (moved.value, across.value, target.value):
        assert not [
            v for p in (first, second) for v in personal_values(p).values() if v in str(error)
        ]
        assert first["person"] not in str(error)
        assert first["basic_code"] not in str(error)


async def test_a_wrong_key_or_an_altered_ciphertext_fails_clearly(city: City) -> None:
    (person, *_) = people(2)
    await fill(city, [person])
    stranger = PgResidents(city.db, DataKeys.fresh(CITY))
    with pytest.raises(SealBroken, match=r"^ims\.residents\.\w+: sealed by a data key this ring"):
        await stranger.get(person["person"])
    with pytest.raises(SealBroken):
        await PgVrsBook(city.db, DataKeys.fresh(CITY)).target(ticket=person["ticket_number"])
    # A wrong key finds nobody by My Number: its index is another.
    assert (
        await PgVrsBook(city.db, DataKeys.fresh(CITY)).target(my_number=person["my_number"]) is None
    )
    # One bit of the sealed address flipped (after its 21 bytes of key id and nonce).
    await city.db.execute(
        "UPDATE ims.residents SET address = set_byte(address, 29, get_byte(address, 29) # 1)"
        " WHERE person = $1",
        person["person"],
    )
    with pytest.raises(SealBroken, match=r"^ims\.residents\.address: does not open"):
        await city.residents.get(person["person"])


def env(data_keys: Path, dsn: str) -> dict[str, str]:
    """The settings a command of the stack runs with against this test's database."""
    return {
        "SESSHU_ADAPTERS__DATA_KEY_DIR": str(data_keys),
        "SESSHU_ADAPTERS__DATABASE_URL": adapters_base(dsn, CITY),
        "SESSHU_ADAPTERS__KEY_DIR": str(data_keys.parent / "private"),
    }


async def sesshu(environment: dict[str, str], *args: str) -> tuple[int, str]:
    """A `sesshu` command, in a thread (it runs its own event loop)."""
    done = await asyncio.to_thread(runner.invoke, app, list(args), env=environment)
    return done.exit_code, done.output


async def test_a_missing_key_stops_a_city_at_start_up_naming_the_setting(tmp_path: Path) -> None:
    folder, dsn = tmp_path / "data", Place("unused", pg_base=PG_TLS_ROOT).database(CITY)
    provision_keys((CITY,), tmp_path / "parties", tmp_path / "ring")
    started = env(folder, dsn) | {
        "SESSHU_ADAPTERS__KEY_DIR": str(tmp_path / "parties" / f"health_mgmt-{CITY}"),
        "SESSHU_SIGNING__RING_DIR": str(tmp_path / "ring"),
    }
    code, output = await sesshu(started, "stack", "city", CITY, "health_mgmt")
    assert code == 2
    assert "no data key for municipality 082279" in output
    assert "SESSHU_ADAPTERS__DATA_KEY_DIR" in output
    assert str(tmp_path) not in output  # the setting, not its value
    (folder / CITY).mkdir(parents=True)
    (folder / CITY / f"{'0' * 16}{KEY_SUFFIX}").write_text('{"key_id": "0000000000000000"}')
    code, output = await sesshu(started, "stack", "city", CITY, "health_mgmt")
    assert code == 2
    assert "0000000000000000.datakey: municipality missing" in output


async def test_rotation_seals_everything_again_and_the_old_key_can_go(
    city: City, tmp_path: Path
) -> None:
    folder, folks = tmp_path / "data", people(6)
    environment = env(folder, city.dsn)
    code, output = await sesshu(
        environment, "stack", "data-key", "generate", "--municipality", CITY
    )
    assert code == 0, output
    old = DataKeys.load(folder / CITY, CITY)
    city.keys = old
    await fill(city, folks)
    assert set(await key_usage(city.db)) == {old.current.key_id}

    # A rotation while an adapter started before it still writes under the old key: both
    # keys open, and a look-up finds rows indexed under either.
    code, output = await sesshu(environment, "stack", "data-key", "rotate", CITY)
    assert code == 0, output
    assert "ims.residents: 6 row(s) sealed again" in output
    both = DataKeys.load(folder / CITY, CITY)
    assert both.key_ids[0] == old.current.key_id
    late = people(7, seed=49)[0] | {"person": "8000001", "basic_code": "8000001"}
    late["ticket_number"] = "T8000001"
    await PgResidents(city.db, old).put(late)
    await PgVrsBook(city.db, old).put_target(target_of(late))
    found = await PgVrsBook(city.db, both).target(my_number=late["my_number"])
    assert found is not None
    assert found["name"] == late["name"]
    assert (await key_usage(city.db)).get(old.current.key_id, 0) > 0

    # Again once the adapters run with the new key: the old one seals nothing and goes.
    code, output = await sesshu(environment, "stack", "data-key", "rekey", CITY, "--remove-old")
    assert code == 0, output
    assert f"removed old key {old.current.key_id}" in output
    assert not (folder / CITY / f"{old.current.key_id}{KEY_SUFFIX}").exists()
    new = DataKeys.load(folder / CITY, CITY)
    assert new.key_ids == (both.current.key_id,)
    assert set(await key_usage(city.db)) == {new.current.key_id}
    code, output = await sesshu(environment, "stack", "data-key", "status", CITY)
    assert code == 0, output
    assert output.startswith(f"{new.current.key_id}\tcurrent\t")

    # Everything still reads, and is still found, with the new key alone.
    city.keys = new
    for i, person in enumerate([*folks, late]):
        kept = await city.residents.get(person["person"])
        assert kept is not None
        assert {k: kept[k] for k in ("my_number", "resident_code", "name", "birth_date")} == {
            k: person[k] for k in ("my_number", "resident_code", "name", "birth_date")
        }
        if person["ticket_number"] and (person is late or numbered(i)):
            target = await city.vrs.target(my_number=person["my_number"])
            assert target is not None
            assert target["address"] == person["address"]
    assert leaks(await pg_dump(city.dsn), [*folks, late]) == []
    # The old key alone opens nothing any more.
    with pytest.raises(SealBroken):
        await PgResidents(city.db, old).get(late["person"])


async def test_a_rekey_goes_batch_by_batch_and_only_through_what_an_old_key_sealed(
    city: City,
) -> None:
    old, folks = city.keys, people(7)
    await fill(city, folks)
    new = DataKeys([*old.keys, DataKey.new(CITY, old.current.created_at + timedelta(seconds=1))])
    assert await rekey(city.db, new, batch=2) == {"ims.residents": 7, "vrs.targets": 6}
    assert set(await key_usage(city.db)) == {new.current.key_id}
    assert await rekey(city.db, new, batch=2) == {"ims.residents": 0, "vrs.targets": 0}
    # One row written again under the old key meanwhile: only that one is sealed again.
    await PgResidents(city.db, old).put(folks[3] | {"name": "結城 一郎"})
    assert await rekey(city.db, new, batch=2) == {"ims.residents": 1, "vrs.targets": 0}
    alone = DataKeys([new.current])
    kept = await PgResidents(city.db, alone).get(folks[3]["person"])
    assert kept is not None
    assert kept["name"] == "結城 一郎"
    for i, person in enumerate(folks):
        if person["ticket_number"] and numbered(i):
            assert await PgVrsBook(city.db, alone).target(my_number=person["my_number"])


async def test_the_migration_runs_on_a_database_made_before_it(tmp_path: Path) -> None:
    before = tmp_path / "migrations"
    before.mkdir()
    shutil.copy(MIGRATIONS_DIR / "0001_adapters.sql", before)
    (person, *_) = people(2)
    columns = [
        *("person", "basic_code", "resident_code", "my_number", "name", "name_kana"),
        *("birth_date", "sex", "address"),
    ]
    async with adapter_database() as (_, dsn):
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute("DROP SCHEMA ims, intermediate, vrs, nws, kiosk CASCADE")
            await connection.execute(
                "DROP TABLE adapter_effects, adapter_inbox, retention_log, schema_migrations;"
                " DROP FUNCTION retention_log_append_only"
            )
            assert await migrate(connection, before) == ["0001_adapters"]
            await connection.execute(
                f"INSERT INTO ims.residents ({', '.join(columns)})"  # noqa: S608 - constants
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                *(person[c] for c in columns),
            )
            await connection.execute(
                "INSERT INTO ims.doses VALUES ($1, 'COVID19', 1, '2021-06-01', NULL, NULL)",
                person["person"],
            )
            # What the dump test looks for, it finds in a database from before.
            found = leaks(await pg_dump(dsn), [person])
            assert {"person#0.my_number", "person#0.name", "person#0.birth_date"} <= set(found)
            # 0002 first, then those after it (which hold no personal value).
            applied = await migrate(connection, MIGRATIONS_DIR)
            assert applied[0] == "0002_encryption_at_rest"
            assert await connection.fetchval("SELECT count(*) FROM ims.residents") == 0
            types = await connection.fetch(
                "SELECT table_schema || '.' || table_name || '.' || column_name AS c, data_type"
                " FROM information_schema.columns"
                " WHERE table_schema IN ('ims', 'vrs') AND column_name = ANY($1::text[])",
                ["my_number", "name", "birth_date", "resident_code", "address"],
            )
            assert {r["c"]: r["data_type"] for r in types} == {
                **{f"ims.residents.{c}": "bytea" for c in ("my_number", "name", "birth_date")},
                "ims.residents.resident_code": "bytea",
                "ims.residents.address": "bytea",
                **{f"vrs.targets.{c}": "bytea" for c in ("my_number", "name", "birth_date")},
                "vrs.targets.address": "bytea",
            }
        finally:
            await connection.close()
        db = await AdapterDb.open(dsn)
        try:
            keys = DataKeys([DataKey.new(CITY)])
            (person, *_) = people(2)
            await PgResidents(db, keys).put(person)
            assert (await PgResidents(db, keys).get(person["person"])) is not None
        finally:
            await db.close()
