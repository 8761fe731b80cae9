"""Each system's edge reads its request folders and hands the good rows to the bridge side,
which sends under the ids of the file's lines (`Source.stable_id`, part of the wire
contract); deliveries come back out through the edge's folders; the rows each file held are
counted imported and refused, as its result file says; every row is made by a clerk of the
city's roster at a listed terminal, who travels as `sender.operator`. No broker: the bridge
side talks to a recorder in place of `adapters.kit.Bridge`."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from uuid import UUID

from adapters.health_mgmt.bridge import HealthMgmt
from adapters.health_mgmt.edge import HealthMgmtEdge, OutFolder
from adapters.health_mgmt.export_csv import export_csv
from adapters.health_mgmt.memory import MemoryResidents
from adapters.health_mgmt.simulator import Town
from adapters.kit.acts import MemoryActLog, RosterFile
from adapters.kit.bridge import Bridge
from adapters.kit.folders import Source
from adapters.kit.rows import rows_csv
from adapters.kit.shc import IssuingBody
from adapters.nws.bridge import Network
from adapters.nws.edge import PortalEdge, PortalNotices
from adapters.nws.memory import MemoryNetworkBook
from adapters.nws.simulator import self_requests
from adapters.vrs.bridge import Vrs
from adapters.vrs.edge import VrsEdge
from adapters.vrs.memory import MemoryVrsBook
from adapters.vrs.simulator import site_readings, transfer_requests
from contracts.codes import SystemId
from contracts.examples import example_payload
from contracts.payloads import (
    Payload,
    ResidentNotice,
    SelfInformationRequest,
    TargetRegistration,
    TransferInInquiry,
    VaccinationExport,
)
from observability.metrics import ADAPTERS, AdapterEvent, RowOutcome
from stack.rosters import COUNTER_CLERK, HEALTH_CLERK, provision_rosters

CHIKUSEI_BODY = IssuingBody("茨城県筑西市", "Chikusei City, Ibaraki")
CITY, OTHER = "082279", "082074"


@dataclass
class Recorder:
    """Stands in for the bridge: keeps (kind, message id, payload, city) of each send."""

    municipality: str = CITY
    system: SystemId = SystemId.HEALTH_MGMT
    sent: list[tuple[str, UUID | None, Payload, str | None]] = field(default_factory=list)
    operators: list[str | None] = field(default_factory=list)

    async def send(self, payload: Payload, **given: Any) -> None:
        self.sent.append((payload.kind, given.get("message_id"), payload, given.get("city")))
        self.operators.append(given.get("operator"))


def roster(root: Path) -> RosterFile:
    """The demo roster of CITY (stack.rosters), in its own folder beside the edge's."""
    provision_rosters((CITY,), root / "rosters")
    return RosterFile(root / "rosters" / f"{CITY}.toml")


def drop(root: Path, folder: str, name: str, data: bytes) -> Path:
    inbox = root / folder / "inbox"
    (inbox / name).write_bytes(data)
    return root / folder / "done" / name


def rows_counted(system: SystemId, outcome: RowOutcome) -> float:
    """`sesshu_adapter_rows_total` of `system` in CITY so far."""
    labels = {"system": system.value, "municipality": CITY, "outcome": outcome}
    return ADAPTERS.get_sample_value("sesshu_adapter_rows_total", labels) or 0.0


def events_counted(system: SystemId, event: AdapterEvent) -> float:
    """`sesshu_adapter_events_total` of `system` in CITY so far."""
    labels = {"system": system.value, "municipality": CITY, "event": event}
    return ADAPTERS.get_sample_value("sesshu_adapter_events_total", labels) or 0.0


def summary(root: Path, folder: str, name: str) -> dict[str, str]:
    text = (root / folder / "results" / f"{Path(name).stem}.result.csv").read_text()
    return {row[0]: row[1] for row in csv.reader(io.StringIO(text)) if row[0].startswith("#")}


async def test_health_management_sends_under_the_ids_of_the_residents_file(
    tmp_path: Path,
) -> None:
    recorder, residents = Recorder(), MemoryResidents()
    health = HealthMgmt(cast(Bridge, recorder), residents, OutFolder(tmp_path))
    edge = HealthMgmtEdge(health, tmp_path, roster(tmp_path), MemoryActLog()).prepare()
    people = Town(CITY, seed=1).residents(3)
    done = drop(tmp_path, "residents", "day.csv", rows_csv(people, HEALTH_CLERK))

    assert await edge.poll() == 1

    source = Source.read(done)
    persons = [p["person"] for p in people]
    expected = [
        ("fukuhon_registration", source.stable_id(n, f"fukuhon-{p}"))
        for n, p in zip((2, 3, 4), persons, strict=True)
    ]
    expected.append(
        ("target_registration", source.stable_id(0, f"target-batch:{','.join(persons)}"))
    )
    expected += [("resident_notice", source.stable_id(n, "notice-message")) for n in (2, 3, 4)]
    assert [(kind, message_id) for kind, message_id, _, _ in recorder.sent] == expected
    notice = recorder.sent[-1][2]
    assert isinstance(notice, ResidentNotice)
    assert notice.notice_id == source.stable_id(4, "notice")
    assert summary(tmp_path, "residents", "day.csv")["# accepted rows"] == "3"
    printed = (tmp_path / "out" / "print" / "day.csv").read_bytes().decode("cp932")
    assert printed.count("notice+yoshinhyo") == 3
    assert all(r["targeted"] and r["coded"] for r in residents.residents.values())
    assert set(recorder.operators) == {HEALTH_CLERK.operator}  # sender.operator, each one


async def test_health_management_records_doses_and_asks_through_the_edge(tmp_path: Path) -> None:
    recorder, town = Recorder(), Town(CITY, seed=2)
    health = HealthMgmt(cast(Bridge, recorder), MemoryResidents(), OutFolder(tmp_path))
    acts = MemoryActLog()
    edge = HealthMgmtEdge(health, tmp_path, roster(tmp_path), acts).prepare()
    drop(tmp_path, "residents", "day.csv", rows_csv(town.residents(2), HEALTH_CLERK))
    await edge.poll()
    recorder.sent.clear()
    recorder.operators.clear()
    forms = drop(
        tmp_path, "records", "clinic.csv", town.returned_forms(town.people, bad=1, by=HEALTH_CLERK)
    )
    ask = rows_csv([{"person": town.people[0]["person"], "provider": OTHER}], HEALTH_CLERK)
    asked = drop(tmp_path, "inquiries", "ask.csv", ask)
    imported = rows_counted(SystemId.HEALTH_MGMT, "imported")
    refused = rows_counted(SystemId.HEALTH_MGMT, "refused")

    assert await edge.poll() == 2

    kinds = [kind for kind, _, _, _ in recorder.sent]
    assert kinds == ["fukuhon_registration", "fukuhon_registration", "inquiry_request"]
    first = town.people[0]["person"]
    assert recorder.sent[0][1] == Source.read(forms).stable_id(2, f"fukuhon-{first}")
    assert recorder.sent[2][1] == Source.read(asked).stable_id(2, "inquiry-message")
    assert summary(tmp_path, "records", "clinic.csv")["# rejected rows"] == "1"
    assert summary(tmp_path, "inquiries", "ask.csv")["# accepted rows"] == "1"
    # Two good 予診票 rows and the bad one, then the one inquiry.
    assert rows_counted(SystemId.HEALTH_MGMT, "imported") - imported == 3
    assert rows_counted(SystemId.HEALTH_MGMT, "refused") - refused == 1
    assert recorder.operators == [HEALTH_CLERK.operator] * 3
    # The act log: every row of the three files, who made it where, taken or refused.
    outcomes = sorted((op, e.line, e.outcome) for (op, _, _), e in acts.entries.items())
    assert outcomes == [
        ("inquiries", 2, "taken"),
        ("records", 2, "taken"),
        ("records", 3, "taken"),
        ("records", 4, "refused"),
        ("residents", 2, "taken"),
        ("residents", 3, "taken"),
    ]
    assert {(e.operator, e.terminal) for e in acts.entries.values()} == {
        (HEALTH_CLERK.operator, HEALTH_CLERK.terminal)
    }


def test_the_out_folder_keeps_deliveries_and_exports(tmp_path: Path) -> None:
    out, notice = OutFolder(tmp_path), example_payload("resident_notice")
    out.keep("resident_notice", UUID(int=7), notice)
    kept = tmp_path / "out" / "resident_notice" / f"{UUID(int=7)}.json"
    assert json.loads(kept.read_text()) == notice.model_dump(mode="json")
    export = example_payload("vaccination_export")
    assert isinstance(export, VaccinationExport)
    out.export(export)
    exported = tmp_path / "out" / "vaccination_export" / f"{export.batch_id}.csv"
    assert exported.read_bytes() == export_csv(export)


async def test_vrs_records_doses_asks_former_cities_and_exports(tmp_path: Path) -> None:
    recorder, book = Recorder(system=SystemId.VRS), MemoryVrsBook()
    vrs = Vrs(cast(Bridge, recorder), book, cast(Any, None), True, cast(Any, None), CHIKUSEI_BODY)
    registration = example_payload("target_registration")
    assert isinstance(registration, TargetRegistration)
    target = registration.targets[0]
    await book.put_target(target.model_dump() | {"my_number": None})
    edge = VrsEdge(vrs, tmp_path, roster(tmp_path), MemoryActLog()).prepare()
    ticket = str(target.ticket_number)
    readings = site_readings([(ticket, 1), ("9" * 10, 1)], COUNTER_CLERK)
    doses = drop(tmp_path, "doses", "site.csv", readings)
    mover = Town(CITY, seed=3).residents(1)[0]
    # A resident of this city's register under their My Number (R04): asked about.
    moved_in = {key: mover[key] for key in ("my_number", "basic_code", "ticket_number")}
    await book.put_target(target.model_dump() | moved_in)
    asking = transfer_requests([mover], OTHER, COUNTER_CLERK)
    transfers = drop(tmp_path, "transfer_in", "counter.csv", asking)
    imported, refused = (
        rows_counted(SystemId.VRS, "imported"),
        rows_counted(SystemId.VRS, "refused"),
    )
    requested = events_counted(SystemId.VRS, "transfer_requested")

    assert await edge.poll() == 2

    kinds = [kind for kind, _, _, _ in recorder.sent]
    assert kinds == ["dose_record", "transfer_in_inquiry", "vaccination_export"]
    assert recorder.sent[0][1] == Source.read(doses).stable_id(2, "dose")
    inquiry = recorder.sent[1][2]
    assert isinstance(inquiry, TransferInInquiry)
    assert inquiry.inquiry_id == Source.read(transfers).stable_id(2, "transfer-in")
    assert recorder.sent[1][1] == Source.read(transfers).stable_id(2, "transfer-in-message")
    assert recorder.sent[1][3] == OTHER
    assert summary(tmp_path, "doses", "site.csv")["# rejected rows"] == "1"
    # The dose of a known ticket and the transfer request; the unknown ticket refused.
    assert rows_counted(SystemId.VRS, "imported") - imported == 2
    assert rows_counted(SystemId.VRS, "refused") - refused == 1
    assert events_counted(SystemId.VRS, "transfer_requested") - requested == 1
    assert recorder.operators[:2] == [COUNTER_CLERK.operator] * 2
    # Asking this city itself is refused by the bridge side, reported by the edge.
    drop(tmp_path, "transfer_in", "back.csv", transfer_requests([mover], CITY, COUNTER_CLERK))
    await edge.poll()
    assert summary(tmp_path, "transfer_in", "back.csv")["# rejected rows"] == "1"
    assert rows_counted(SystemId.VRS, "refused") - refused == 2
    assert events_counted(SystemId.VRS, "transfer_requested") - requested == 1


async def test_the_portal_asks_each_city_on_its_own_instance(tmp_path: Path) -> None:
    recorders = {CITY: Recorder(CITY, SystemId.NWS), OTHER: Recorder(OTHER, SystemId.NWS)}
    notices = PortalNotices(tmp_path)
    network = Network(
        cast(Bridge, recorders[CITY]),
        MemoryNetworkBook(),
        cast(Any, None),
        b"key",
        notices,
        lambda city: cast(Bridge, recorders[city]),
    )
    edge = PortalEdge(network, tmp_path).prepare()
    request = example_payload("self_information_request")
    assert isinstance(request, SelfInformationRequest)
    asked = drop(tmp_path, "requests", "r.csv", self_requests([(OTHER, str(request.person))]))
    imported = rows_counted(SystemId.NWS, "imported")

    assert await edge.poll() == 1

    ((kind, message_id, payload, city),) = recorders[OTHER].sent
    assert (kind, message_id, city) == (
        "self_information_request",
        Source.read(asked).stable_id(2, "self-request-message"),
        OTHER,
    )
    assert isinstance(payload, SelfInformationRequest)
    assert payload.request_id == Source.read(asked).stable_id(2, "self-request")
    assert recorders[CITY].sent == []
    # Counted under the instance that read the file (this city's), not the row's city.
    assert rows_counted(SystemId.NWS, "imported") - imported == 1
    notice = example_payload("resident_notice")
    assert isinstance(notice, ResidentNotice)
    notices.deliver(OTHER, notice)
    delivered = tmp_path / OTHER / f"{notice.notice_id}.json"
    assert json.loads(delivered.read_text()) == notice.model_dump(mode="json")
