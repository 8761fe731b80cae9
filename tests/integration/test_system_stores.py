"""One suite for both implementations of the systems' own ports: the health-management
register, the intermediate server's book, one city's VRS and the network's book, in
memory (`adapters.*.memory`) and in PostgreSQL (`hub.store.systems`, on an adapter
database of the test's own)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, Protocol
from uuid import UUID

import pytest

from adapters.health_mgmt.memory import MemoryResidents
from adapters.intermediate.memory import MemoryIntermediateBook
from adapters.kit.acts import MemoryActLog
from adapters.nws.memory import MemoryNetworkBook
from adapters.ports import (
    ActEntry,
    ActLog,
    IntermediateBook,
    NetworkBook,
    ResidentRegister,
    Row,
    VrsBook,
)
from adapters.store.atrest import DataKeys, key_id_of
from adapters.store.db import AdapterDb
from adapters.store.sealed import RESIDENTS, TARGETS, SealedTable
from adapters.store.systems import (
    PgActLog,
    PgIntermediateBook,
    PgNetworkBook,
    PgResidents,
    PgVrsBook,
)
from adapters.vrs.memory import MemoryVrsBook
from hub.errors import Conflict
from tests.harness import adapter_database

pytestmark = pytest.mark.integration

JST = timezone(timedelta(hours=9))
T0 = datetime(2026, 4, 1, 9, 0, tzinfo=JST)
# What a store refuses as PostgreSQL would: a unique, foreign-key, not-null or check
# constraint (asyncpg's error, or the in-memory stores' own).
REFUSED = Conflict  # both implementations refuse the same writes the same way


class AuditedBook(IntermediateBook, Protocol):
    """The intermediate book, with the 情報提供等記録 read back (both implementations)."""

    async def records(self) -> list[Row]: ...


class IssuingBook(NetworkBook, Protocol):
    """The network's book, with a permit looked up by inquiry (both implementations)."""

    async def permit_for(self, inquiry_id: UUID) -> Row | None: ...


@dataclass
class Stores:
    residents: ResidentRegister
    intermediate: AuditedBook
    vrs: VrsBook
    network: IssuingBook


@pytest.fixture(params=["memory", "postgres"])
async def stores(request: pytest.FixtureRequest) -> AsyncIterator[Stores]:
    if request.param == "memory":
        yield Stores(
            MemoryResidents(), MemoryIntermediateBook(), MemoryVrsBook(), MemoryNetworkBook()
        )
        return
    async with adapter_database() as (db, _):
        keys = DataKeys.fresh("082279")
        yield Stores(
            PgResidents(db, keys), PgIntermediateBook(db), PgVrsBook(db, keys), PgNetworkBook(db)
        )


class ReadActLog(ActLog, Protocol):
    """An edge's act log, read back (both implementations)."""

    async def rows(self) -> list[Row]: ...


@pytest.fixture(params=["memory", "postgres"])
async def act_logs(request: pytest.FixtureRequest) -> AsyncIterator[tuple[ReadActLog, ...]]:
    if request.param == "memory":
        yield MemoryActLog(), MemoryActLog()
        return
    async with adapter_database() as (db, _):
        yield PgActLog(db, "ims"), PgActLog(db, "vrs")


def aware_utc(value: Any) -> bool:
    """A timestamptz as asyncpg reads it back: aware, in UTC."""
    return isinstance(value, datetime) and value.utcoffset() == timedelta(0)


# --- health management: ResidentRegister ----------------------------------------------


def resident(**changes: Any) -> dict[str, Any]:
    return {
        "person": "1000000001",
        "basic_code": "B0001",
        "resident_code": "R0001",
        "my_number": "123456789018",
        "name": "筑西 花子",
        "name_kana": "チクセイ ハナコ",
        "birth_date": date(1990, 5, 1),
        "sex": 2,
        "address": "茨城県筑西市丙360",
        "ticket_number": None,
        "ticket_issued_on": None,
        "status": "resident",
        "status_on": None,
    } | changes


# Nothing sent yet for a new resident: no 符号 information, target or flag.
UNSENT = {"coded": False, "targeted": False, "flagged": None}


async def test_a_resident_is_new_once_then_updated_with_the_status_before(
    stores: Stores,
) -> None:
    register = stores.residents
    assert await register.put(resident()) == (True, None)
    first = await register.get("1000000001")
    assert first is not None
    assert first == resident() | UNSENT | {"updated_at": first["updated_at"]}
    assert aware_utc(first["updated_at"])
    moved = resident(
        status="moved_out",
        status_on=date(2026, 3, 31),
        name="筑西 花",
        name_kana=None,
        address="茨城県結城市結城1447",
        # What an update never changes: the numbers and the person's birth and sex.
        basic_code="B9999",
        resident_code="R9999",
        my_number="999999999999",
        birth_date=date(1991, 1, 1),
        sex=1,
    )
    assert await register.put(moved) == (False, "resident")
    assert await register.put(moved | {"status": "deceased"}) == (False, "moved_out")
    after = await register.get("1000000001")
    assert after is not None
    assert after == resident(
        status="deceased",
        status_on=date(2026, 3, 31),
        name="筑西 花",
        name_kana=None,
        address="茨城県結城市結城1447",
    ) | UNSENT | {"updated_at": after["updated_at"]}
    assert after["updated_at"] >= first["updated_at"]
    assert await register.by_basic_code("B9999") is None


async def test_a_ticket_once_issued_is_kept_and_lookups_miss_cleanly(stores: Stores) -> None:
    register = stores.residents
    await register.put(resident())
    await register.put(resident(ticket_number="T0001", ticket_issued_on=date(2026, 4, 1)))
    await register.put(resident(ticket_number="T0002", ticket_issued_on=date(2026, 5, 1)))
    await register.put(resident(ticket_number=None, ticket_issued_on=None))
    kept = await register.by_basic_code("B0001")
    assert kept is not None
    assert (kept["person"], kept["ticket_number"], kept["ticket_issued_on"]) == (
        "1000000001",
        "T0001",
        date(2026, 4, 1),
    )
    assert await register.get("4242") is None
    assert await register.by_basic_code("B4242") is None


async def test_coded_is_noted_once_sent(stores: Stores) -> None:
    register = stores.residents
    await register.put(resident())
    await register.mark_coded("1000000001")
    await register.mark_coded("4242")  # nobody: nothing happens
    coded = await register.get("1000000001")
    assert coded is not None
    assert coded["coded"] is True
    await register.put(resident(status="moved_out"))
    again = await register.get("1000000001")
    assert again is not None
    assert again["coded"] is True
    await register.mark_targeted(["1000000001", "9999999999"])
    await register.mark_flagged("1000000001", "moved_out")
    marked = await register.get("1000000001")
    assert marked is not None
    assert (marked["targeted"], marked["flagged"]) == (True, "moved_out")
    assert await register.get("4242") is None


async def test_the_register_refuses_what_its_constraints_refuse(stores: Stores) -> None:
    register = stores.residents
    await register.put(resident(ticket_number="T0001"))
    await register.put(resident(person="1000000002", basic_code="B0002"))
    with pytest.raises(REFUSED):  # another person's 基本コード
        await register.put(resident(person="1000000003"))
    with pytest.raises(REFUSED):  # another person's ticket, for a new person
        await register.put(resident(person="1000000003", basic_code="B0003", ticket_number="T0001"))
    with pytest.raises(REFUSED):  # another person's ticket, for one who has none yet
        await register.put(resident(person="1000000002", basic_code="B0002", ticket_number="T0001"))
    with pytest.raises(REFUSED):
        await register.put(resident(person="1000000003", basic_code="B0003", name=None))
    with pytest.raises(KeyError):
        await register.put({k: v for k, v in resident().items() if k != "status_on"})
    assert await register.get("1000000003") is None
    second = await register.get("1000000002")
    assert second is not None
    assert second["ticket_number"] is None
    with pytest.raises(REFUSED):  # a dose of nobody
        await register.put_dose("4242", dose_item(1, date(2021, 6, 1)))
    assert await register.history("4242") == []


def dose_item(number: int, day: date, vaccine: str = "COVID19", lot: str = "AB12") -> Row:
    return {
        "vaccine_type": vaccine,
        "dose_number": number,
        "administered_on": day,
        "lot_number": lot,
        "manufacturer": None,
        "site": "ignored: not a column",
    }


async def test_doses_are_recorded_corrected_and_listed_in_date_order(stores: Stores) -> None:
    register = stores.residents
    await register.put(resident())
    await register.put(resident(person="1000000002", basic_code="B0002"))
    await register.put_dose("1000000001", dose_item(2, date(2021, 7, 1)))
    await register.put_dose("1000000001", dose_item(1, date(2021, 6, 1), "HPV"))
    await register.put_dose("1000000001", dose_item(1, date(2021, 6, 1)))
    await register.put_dose("1000000002", dose_item(1, date(2021, 5, 1)))
    # A correction of the second COVID dose: the same (type, number), a new date and lot.
    corrected = dict(dose_item(2, date(2021, 6, 20), lot="CD34")) | {"manufacturer": "Pfizer"}
    await register.put_dose("1000000001", corrected)
    history = await register.history("1000000001")
    assert history == [
        {k: v for k, v in dose.items() if k != "site"}
        for dose in (
            dose_item(1, date(2021, 6, 1)),
            dose_item(1, date(2021, 6, 1), "HPV"),
            corrected,
        )
    ]
    assert [type(d["dose_number"]) for d in history] == [int, int, int]
    assert len(await register.history("1000000002")) == 1
    assert await register.history("1000000003") == []


# --- the intermediate server: IntermediateBook ----------------------------------------


async def test_the_latest_list_is_the_one_received_last_and_a_version_is_kept_once(
    stores: Stores,
) -> None:
    book = stores.intermediate
    assert await book.latest_list() is None
    await book.put_list("2026.04", [{"procedure": "B2-115-2", "items": ("a", "b")}])
    await book.put_list("2026.05", [{"procedure": "S19-16", "weight": 1e16}])
    assert await book.latest_list() == ("2026.05", [{"procedure": "S19-16", "weight": 10**16}])
    # The same version again changes nothing, not even which list is the latest.
    await book.put_list("2026.05", [])
    await book.put_list("2026.04", [])
    latest = await book.latest_list()
    assert latest == ("2026.05", [{"procedure": "S19-16", "weight": 10**16}])
    assert latest is not None
    assert isinstance(latest[1][0]["weight"], int)  # numeric prints no exponent
    # The latest is the last received, whatever its version says.
    await book.put_list("2026.03", [{"procedure": "B2-115-2", "items": ["a"]}])
    assert await book.latest_list() == ("2026.03", [{"procedure": "B2-115-2", "items": ["a"]}])


async def test_a_permit_is_kept_once_as_json(stores: Stores) -> None:
    book = stores.intermediate
    permit_id, inquiry_id = uuid.uuid4(), uuid.uuid4()
    permit = {"permit_id": str(permit_id), "expires_at": "2026-04-01T10:00:00Z", "n": [1, 2.5]}
    await book.put_permit(permit_id, inquiry_id, permit)
    await book.put_permit(permit_id, uuid.uuid4(), {"other": True})
    assert await book.permit(permit_id) == permit
    assert await book.permit(uuid.uuid4()) is None
    with pytest.raises(TypeError):  # not JSON: refused before anything is written
        await book.put_permit(uuid.uuid4(), inquiry_id, {"when": T0})


def inquiry_row(inquiry_id: UUID, **changes: Any) -> dict[str, Any]:
    return {
        "inquiry_id": inquiry_id,
        "person": "1000000001",
        "provider": "082074",
        "procedure": "B2-115-2",
        "data_item": "vaccination.history",
        "requested_at": T0,
        "state": "sent",
        "result": None,
        "finished_at": None,
        "delete_after": None,
    } | changes


async def test_an_inquiry_moves_on_until_finished_and_keeps_its_result(stores: Stores) -> None:
    book = stores.intermediate
    inquiry_id = uuid.uuid4()
    await book.put_inquiry(
        inquiry_id, "1000000001", "082074", "B2-115-2", "vaccination.history", T0
    )
    await book.put_inquiry(inquiry_id, "1000000009", "082279", "X", "Y", T0 + timedelta(days=1))
    kept = await book.inquiry(inquiry_id)
    assert kept == inquiry_row(inquiry_id)
    assert kept is not None
    assert aware_utc(kept["requested_at"])
    await book.set_state(inquiry_id, "permitted")
    assert await book.inquiry(inquiry_id) == inquiry_row(inquiry_id, state="permitted")
    result = {"history": [{"dose": 1, "on": "2021-06-01"}], "status": "found", "n": -0.0}
    until = T0 + timedelta(days=30)
    await book.finish(inquiry_id, "found", result, T0 + timedelta(minutes=1), until)
    await book.set_state(inquiry_id, "permitted")  # finished: stays as it is
    finished = await book.inquiry(inquiry_id)
    # The result as jsonb's own text: shortest keys first, numeric's zero without a sign.
    text = '{"n": 0.0, "status": "found", "history": [{"on": "2021-06-01", "dose": 1}]}'
    assert finished == inquiry_row(
        inquiry_id,
        state="found",
        result=text,
        finished_at=T0 + timedelta(minutes=1),
        delete_after=until,
    )
    await book.finish(inquiry_id, "withheld", {}, T0, until + timedelta(days=1))
    again = await book.inquiry(inquiry_id)
    assert again is not None
    assert (again["state"], again["result"], again["delete_after"]) == (
        "withheld",
        "{}",
        until + timedelta(days=1),
    )
    unknown = uuid.uuid4()
    await book.set_state(unknown, "permitted")
    await book.finish(unknown, "found", result, T0, until)
    assert await book.inquiry(unknown) is None


async def test_purge_deletes_the_results_whose_time_has_come(stores: Stores) -> None:
    book = stores.intermediate
    due, later, open_ = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for inquiry_id in (due, later, open_):
        await book.put_inquiry(inquiry_id, "1000000001", "082074", "B2-115-2", "v.h", T0)
    await book.finish(due, "found", {"status": "found"}, T0, T0 + timedelta(days=1))
    await book.finish(later, "found", {"status": "found"}, T0, T0 + timedelta(days=2))
    assert await book.purge(T0 + timedelta(days=1) - timedelta(microseconds=1)) == []
    # The boundary counts as due (delete_after <= now), in whatever zone `now` is given.
    assert await book.purge((T0 + timedelta(days=1)).astimezone(UTC)) == [due]
    assert await book.inquiry(due) is None
    assert await book.purge(T0 + timedelta(days=365)) == [later]
    assert await book.purge(T0 + timedelta(days=365)) == []
    assert await book.inquiry(open_) == inquiry_row(open_, data_item="v.h")
    # An inquiry whose reply never came is deleted once asked before the stale cut-off.
    assert await book.purge(T0 + timedelta(days=365), T0 - timedelta(seconds=1)) == []
    assert await book.purge(T0 + timedelta(days=365), T0) == [open_]


def record_fields(inquiry_id: UUID, role: str, **changes: Any) -> dict[str, Any]:
    return {
        "record_id": uuid.uuid4(),
        "inquiry_id": inquiry_id,
        "role": role,
        "inquirer": "082279",
        "provider": "082074",
        "procedure": "B2-115-2",
        "data_item": "vaccination.history",
        "requested_at": T0,
        "provided_at": None,
        "outcome": "sent",
        "nondisclosure": False,
        "retention_until": date(2033, 4, 1),
        "subject": None,
        "reply_id": None,
        "operator": None,
    } | changes


async def test_a_record_is_written_then_completed_per_inquiry_and_role(stores: Stores) -> None:
    book = stores.intermediate
    inquiry_id = uuid.uuid4()
    # R16: the inquirer's record names who asked; completing it later keeps that.
    asked = record_fields(inquiry_id, "inquirer", operator="hoken.sato")
    await book.record(**asked, extra="not a column")
    answered = T0 + timedelta(minutes=5)
    provided = record_fields(inquiry_id, "provider", requested_at=T0 + timedelta(seconds=1))
    await book.record(**provided)
    # Completing keeps everything but the provision time and outcome as first written.
    await book.record(
        **record_fields(inquiry_id, "inquirer", provider="999999", provided_at=answered)
        | {"outcome": "found"}
    )
    assert await book.records() == [asked | {"provided_at": answered, "outcome": "found"}, provided]
    records = await book.records()
    assert aware_utc(records[0]["requested_at"])
    assert aware_utc(records[0]["provided_at"])
    with pytest.raises(REFUSED):  # neither inquirer nor provider
        await book.record(**record_fields(uuid.uuid4(), "auditor"))
    with pytest.raises(REFUSED):  # a record id already another record's
        await book.record(**record_fields(uuid.uuid4(), "inquirer", record_id=asked["record_id"]))
    with pytest.raises(REFUSED):
        await book.record(**record_fields(uuid.uuid4(), "inquirer", outcome=None))
    with pytest.raises(KeyError):
        await book.record(**{k: v for k, v in asked.items() if k != "outcome"})
    assert len(await book.records()) == 2


async def test_a_providers_record_names_the_subject_and_says_what_became_of_its_reply(
    stores: Stores,
) -> None:
    # R47 (issue 15): by our 符号, and "rejected" once the hub says a 所属長 rejected the
    # reply; completing the record later keeps both.
    book = stores.intermediate
    inquiry_id, reply = uuid.uuid4(), uuid.uuid4()
    subject = "A" * 16
    asked = record_fields(inquiry_id, "inquirer", subject="B" * 16)
    provided = record_fields(
        inquiry_id, "provider", outcome="provided", subject=subject, reply_id=reply
    )
    await book.record(**asked)
    await book.record(**provided)
    await book.record(**record_fields(inquiry_id, "provider", outcome="provided"))
    assert await book.record_outcome(reply, "rejected")
    assert not await book.record_outcome(uuid.uuid4(), "rejected")  # no record names it
    by_role = {r["role"]: r for r in await book.records()}
    assert by_role["provider"] == provided | {"outcome": "rejected"}
    assert by_role["inquirer"] == asked  # only the provider's says what became of its reply


async def test_a_resident_is_shown_the_records_about_them_but_not_those_marked_nondisclosed(
    stores: Stores,
) -> None:
    # F9 with exchange records (R47, issue 15): by their 符号, newest first, bounded.
    book, subject = stores.intermediate, "C" * 16
    for minutes, nondisclosure in ((1, False), (2, False), (3, True)):
        await book.record(
            **record_fields(
                uuid.uuid4(),
                "provider",
                requested_at=T0 + timedelta(minutes=minutes),
                subject=subject,
                nondisclosure=nondisclosure,
            )
        )
    await book.record(**record_fields(uuid.uuid4(), "provider", subject="D" * 16))
    shown = await book.records_about(subject, 10)
    assert [r["requested_at"] for r in shown] == [T0 + timedelta(minutes=m) for m in (2, 1)]
    assert [r["requested_at"] for r in await book.records_about(subject, 1)] == [
        T0 + timedelta(minutes=2)
    ]
    assert await book.records_about("E" * 16, 10) == []


# --- VRS: VrsBook -----------------------------------------------------------------------


def target(**changes: Any) -> dict[str, Any]:
    return {
        "basic_code": "B0001",
        "ticket_number": "T0001",
        "my_number": "123456789018",
        "name": "筑西 花子",
        "name_kana": "チクセイ ハナコ",
        "birth_date": date(1990, 5, 1),
        "sex": 2,
        "address": "茨城県筑西市丙360",
        "ticket_issued_on": date(2026, 4, 1),
        "unused": "not a column",
    } | changes


def target_row(found: Row | None, **changes: Any) -> dict[str, Any]:
    """The row a target comes back as; registered_at as the store set it."""
    assert found is not None
    assert aware_utc(found["registered_at"])
    row = {k: v for k, v in target(**changes).items() if k != "unused"}
    return row | {"status": "active", "status_on": None, "registered_at": found["registered_at"]}


async def test_a_target_is_found_by_ticket_or_my_number_and_updated_by_basic_code(
    stores: Stores,
) -> None:
    book = stores.vrs
    await book.put_target(target())
    await book.put_target(target(basic_code="B0002", ticket_number="T0002", my_number=None))
    by_ticket = await book.target(ticket="T0001")
    assert by_ticket == target_row(by_ticket)
    assert await book.target(my_number="123456789018") == by_ticket
    assert await book.target(ticket="", my_number="123456789018") == by_ticket
    # A ticket wins over a My Number; no My Number matches nobody's missing one.
    assert await book.target(ticket="T0002", my_number="123456789018") == target_row(
        await book.target(ticket="T0002"), basic_code="B0002", ticket_number="T0002", my_number=None
    )
    assert await book.target() is None
    assert await book.target(ticket="T9999") is None
    # An update: name and address follow, a missing My Number keeps the known one, the
    # ticket and the person's birth stay as registered.
    await book.put_target(
        target(
            my_number=None, name="筑西 花", name_kana=None, address="結城市", ticket_number="T0009"
        )
        | {"birth_date": date(1991, 1, 1), "sex": 1, "ticket_issued_on": date(2026, 5, 1)}
    )
    updated = await book.target(ticket="T0001")
    assert updated == target_row(updated, name="筑西 花", name_kana=None, address="結城市")
    await book.put_target(target(my_number="999999999999"))
    assert await book.target(my_number="123456789018") is None
    assert await book.target(my_number="999999999999") is not None
    assert await book.target(ticket="T0009") is None


async def test_a_ticket_is_one_targets_and_a_target_needs_its_fields(stores: Stores) -> None:
    book = stores.vrs
    await book.put_target(target())
    with pytest.raises(REFUSED):
        await book.put_target(target(basic_code="B0002"))
    with pytest.raises(REFUSED):
        await book.put_target(target(basic_code="B0002", ticket_number="T0002", address=None))
    assert await book.target(ticket="T0002") is None
    assert await book.target(ticket="T0001") == target_row(await book.target(ticket="T0001"))


async def test_a_flag_applies_to_a_known_target_only(stores: Stores) -> None:
    book = stores.vrs
    await book.put_target(target())
    assert await book.set_status("B0001", "moved_out", date(2026, 6, 1)) is True
    flagged = await book.target(ticket="T0001")
    assert flagged is not None
    assert (flagged["status"], flagged["status_on"]) == ("moved_out", date(2026, 6, 1))
    assert await book.set_status("B0001", "active", date(2026, 7, 1)) is True
    assert await book.set_status("B9999", "deceased", date(2026, 6, 1)) is False
    assert await book.target(ticket="T0001") == target_row(flagged) | {
        "status": "active",
        "status_on": date(2026, 7, 1),
    }


def covid(number: int, on: str) -> dict[str, Any]:
    return {"dose_number": number, "vaccinated_on": on, "manufacturer": "Pfizer", "lot": "FA1"}


async def test_a_dose_is_recorded_once_and_listed_in_dose_order(stores: Stores) -> None:
    book = stores.vrs
    await book.put_target(target())
    assert await book.put_dose("T0001", 2, covid(2, "2021-07-01"), "site") is True
    assert await book.put_dose("T0001", 1, covid(1, "2021-06-01"), "transfer_in") is True
    assert await book.put_dose("T0001", 2, covid(2, "2099-01-01"), "site") is False
    assert await book.doses("T0001") == [covid(1, "2021-06-01"), covid(2, "2021-07-01")]
    assert await book.doses("T9999") == []
    # No target needed to record (a transfer-in may come first), but none to export.
    assert await book.put_dose("T9999", 1, covid(1, "2021-06-01"), "transfer_in") is True
    assert await book.doses("T9999") == [covid(1, "2021-06-01")]


async def test_unexported_doses_go_out_in_ticket_order_until_marked(stores: Stores) -> None:
    book = stores.vrs
    await book.put_target(target())
    await book.put_target(target(basic_code="B0002", ticket_number="S0002", my_number=None))
    await book.put_dose("T0001", 2, covid(2, "2021-07-01"), "site")
    await book.put_dose("T0001", 1, covid(1, "2021-06-01"), "site")
    await book.put_dose("S0002", 1, covid(1, "2021-06-02") | {"weight": 1e16}, "site")
    await book.put_dose("X0003", 1, covid(1, "2021-06-03"), "site")  # nobody's ticket
    pending = await book.unexported(10)
    assert [(r["basic_code"], r["ticket_number"], r["dose_number"]) for r in pending] == [
        ("B0002", "S0002", 1),
        ("B0001", "T0001", 1),
        ("B0001", "T0001", 2),
    ]
    assert all(set(r) == {"basic_code", "ticket_number", "dose_number", "dose"} for r in pending)
    # The dose as jsonb's text, for the caller to decode.
    assert isinstance(pending[0]["dose"], str)
    assert json.loads(pending[0]["dose"]) == covid(1, "2021-06-02") | {"weight": 10**16}
    assert json.loads(pending[2]["dose"]) == covid(2, "2021-07-01")
    assert await book.unexported(2) == pending[:2]
    assert await book.unexported(0) == []
    await book.mark_exported([])
    await book.mark_exported([("S0002", 1), ("T0001", 2), ("T0001", 9)])
    assert await book.unexported(10) == [pending[1]]
    await book.mark_exported([("T0001", 1), ("T0001", 1)])
    assert await book.unexported(10) == []
    assert len(await book.doses("T0001")) == 2


async def test_a_transfer_in_inquiry_is_kept_once_then_answered(stores: Stores) -> None:
    book = stores.vrs
    inquiry_id = uuid.uuid4()
    await book.put_transfer(inquiry_id, "082074", None)
    await book.put_transfer(inquiry_id, "999999", "T0001")
    asked = await book.transfer(inquiry_id)
    assert asked is not None
    assert aware_utc(asked["requested_at"])
    assert asked == {
        "inquiry_id": inquiry_id,
        "former_municipality": "082074",
        "ticket_number": None,
        "state": "sent",
        "doses": None,
        "requested_at": asked["requested_at"],
        "answered_at": None,
    }
    await book.transfer_answered(inquiry_id, "provided", 3)
    answered = await book.transfer(inquiry_id)
    assert answered is not None
    assert aware_utc(answered["answered_at"])
    assert answered["answered_at"] >= asked["requested_at"]
    assert answered == {
        **asked,
        "state": "provided",
        "doses": 3,
        "answered_at": answered["answered_at"],
    }
    await book.put_transfer(other := uuid.uuid4(), "082074", "T0001")
    transfer = await book.transfer(other)
    assert transfer is not None
    assert transfer["ticket_number"] == "T0001"
    await book.transfer_answered(unknown := uuid.uuid4(), "no_record", 0)
    assert await book.transfer(unknown) is None


# --- PostgreSQL only: what the stores keep of a person is ciphertext (R48) ----------------


@pytest.fixture
async def sealed() -> AsyncIterator[tuple[AdapterDb, DataKeys]]:
    async with adapter_database() as (db, _):
        yield db, DataKeys.fresh("082279")


def assert_sealed(row: Row, table: SealedTable, given: Row, keys: DataKeys) -> None:
    """Each sealed column bytes under the current key, without its value inside (where
    the value is long enough not to turn up in random bytes: not the sex code)."""
    for column in table.columns:
        value, plain = row[column], str(given[column]).encode()
        assert isinstance(value, bytes), column
        assert key_id_of(value) == keys.current.key_id
        assert len(plain) < 4 or plain not in value


async def test_postgres_keeps_a_residents_personal_columns_sealed(
    sealed: tuple[AdapterDb, DataKeys],
) -> None:
    db, keys = sealed
    await PgResidents(db, keys).put(resident(ticket_number="T0001"))
    (row,) = await db.fetch("SELECT * FROM ims.residents")
    assert_sealed(dict(row), RESIDENTS, resident(), keys)
    # The city's own numbers and the register's state stay plain: keys, joins, lookups.
    assert (row["person"], row["basic_code"], row["ticket_number"], row["status"]) == (
        "1000000001",
        "B0001",
        "T0001",
        "resident",
    )
    # Each put seals afresh (a new nonce): equal names do not look equal.
    await PgResidents(db, keys).put(resident(person="1000000002", basic_code="B0002"))
    names = [r["name"] for r in await db.fetch("SELECT name FROM ims.residents")]
    assert names[0] != names[1]


async def test_postgres_keeps_a_targets_personal_columns_sealed_and_indexes_its_number(
    sealed: tuple[AdapterDb, DataKeys],
) -> None:
    db, keys = sealed
    book = PgVrsBook(db, keys)
    await book.put_target(target())
    await book.put_target(target(basic_code="B0002", ticket_number="T0002", my_number=None))
    first, second = await db.fetch("SELECT * FROM vrs.targets ORDER BY basic_code")
    assert_sealed(dict(first), TARGETS, target(), keys)
    assert first["my_number_index"] == keys.index("123456789018", "vrs.targets.my_number")
    assert (second["my_number"], second["my_number_index"]) == (None, None)
    # A registration without the number keeps the number and its index.
    await book.put_target(target(my_number=None))
    (kept,) = await db.fetch("SELECT * FROM vrs.targets WHERE basic_code = 'B0001'")
    assert (kept["my_number"], kept["my_number_index"]) == (
        first["my_number"],
        first["my_number_index"],
    )
    found = await book.target(my_number="123456789018")
    assert found is not None
    assert found["basic_code"] == "B0001"
    assert "my_number_index" not in found  # the index is the store's, not the caller's


# --- the network: NetworkBook ------------------------------------------------------------

ONE, TWO = b"\x01" * 32, b"\x02" * 32


async def test_a_code_converts_to_another_agencys_for_the_same_individual(
    stores: Stores,
) -> None:
    book = stores.network
    await book.put_code("082279", "chikusei-one", ONE)
    await book.put_code("082074", "yuki-one", ONE)
    await book.put_code("082074", "yuki-two", TWO)
    assert await book.convert("082279", "chikusei-one", "082074") == "yuki-one"
    assert await book.convert("082074", "yuki-one", "082279") == "chikusei-one"
    assert await book.convert("082074", "yuki-one", "082074") == "yuki-one"
    assert await book.convert("082074", "yuki-two", "082279") is None  # no code there
    assert await book.convert("082279", "yuki-one", "082074") is None  # not Chikusei's
    assert await book.convert("082279", "unknown", "082074") is None


async def test_the_first_code_registration_stands(stores: Stores) -> None:
    book = stores.network
    await book.put_code("082279", "chikusei-one", ONE)
    await book.put_code("082074", "yuki-one", ONE)
    await book.put_code("082074", "yuki-two", TWO)
    await book.put_code("082279", "chikusei-one", TWO)  # the code is taken: ignored
    await book.put_code("082279", "chikusei-again", ONE)  # ONE has a code here: ignored
    assert await book.convert("082279", "chikusei-one", "082074") == "yuki-one"
    assert await book.convert("082279", "chikusei-again", "082074") is None
    assert await book.convert("082074", "yuki-two", "082279") is None
    await book.put_code("082279", "chikusei-two", TWO)
    assert await book.convert("082074", "yuki-two", "082279") == "chikusei-two"


def permit(**changes: Any) -> dict[str, Any]:
    return {
        "permit_id": uuid.uuid4(),
        "inquiry_id": uuid.uuid4(),
        "inquirer": "082279",
        "provider": "082074",
        "procedure": "B2-115-2",
        "data_item": "vaccination.history",
        "issued_at": T0,
        "expires_at": T0 + timedelta(hours=1),
        "correlation_id": uuid.uuid4(),
        "data_items": ["vaccination.history"],  # what the bridge passes on; not a column
    } | changes


async def test_a_permit_is_kept_once_per_inquiry_and_found_three_ways(stores: Stores) -> None:
    book = stores.network
    issued = permit()
    await book.put_permit(issued)
    row = {k: v for k, v in issued.items() if k != "data_items"} | {"answered_at": None}
    kept = await book.permit(issued["permit_id"])
    assert kept == row
    assert kept is not None
    assert aware_utc(kept["issued_at"])
    assert aware_utc(kept["expires_at"])
    assert await book.permit_for(issued["inquiry_id"]) == row
    assert await book.permit_by_correlation(issued["correlation_id"]) == row
    # A second permit for the same inquiry is not kept; a permit id is one inquiry's.
    again = permit(inquiry_id=issued["inquiry_id"], correlation_id=uuid.uuid4())
    await book.put_permit(again)
    assert await book.permit(again["permit_id"]) is None
    assert await book.permit_by_correlation(again["correlation_id"]) is None
    with pytest.raises(REFUSED):
        await book.put_permit(permit(permit_id=issued["permit_id"]))
    with pytest.raises(REFUSED):
        await book.put_permit(permit(procedure=None))
    assert await book.permit(uuid.uuid4()) is None
    assert await book.permit_for(uuid.uuid4()) is None
    assert await book.permit_by_correlation(uuid.uuid4()) is None


async def test_a_permit_notes_when_its_reply_passed(stores: Stores) -> None:
    book = stores.network
    issued, other = permit(), permit()
    await book.put_permit(issued)
    await book.put_permit(other)
    await book.answered(issued["inquiry_id"])
    first = await book.permit(issued["permit_id"])
    assert first is not None
    assert aware_utc(first["answered_at"])
    await book.answered(issued["inquiry_id"])  # a second passing moves the time on
    second = await book.permit(issued["permit_id"])
    assert second is not None
    assert second["answered_at"] >= first["answered_at"]
    unanswered = await book.permit(other["permit_id"])
    assert unanswered is not None
    assert unanswered["answered_at"] is None
    await book.answered(uuid.uuid4())  # no such inquiry: nothing happens


# --- the edges' act logs (R29/R31) ------------------------------------------------------


async def test_r31_an_edges_act_log_keeps_each_line_of_a_file_once(
    act_logs: tuple[ReadActLog, ...],
) -> None:
    health, vrs = act_logs
    taken = ActEntry(2, "hoken.sato", "hm-term-01", "taken", None)
    refused = ActEntry(3, None, None, "refused", "operator: required")
    await health.log("residents", "a" * 64, [taken, refused])
    # The same file again (after a crash): the first outcome of each line stands.
    await health.log("residents", "a" * 64, [ActEntry(2, "x.y", "t", "refused", "late")])
    await health.log("residents", "b" * 64, [taken])
    await health.log("residents", "b" * 64, [])

    rows = [{k: v for k, v in r.items() if k != "at"} for r in await health.rows()]
    assert rows == [
        {"operation": "residents", "file_sha256": "a" * 64} | asdict(taken),
        {"operation": "residents", "file_sha256": "a" * 64} | asdict(refused),
        {"operation": "residents", "file_sha256": "b" * 64} | asdict(taken),
    ]
    assert await vrs.rows() == []  # each system's own log
