"""The health-management system (健康管理システム) as an adapter.

Edge input (CSV request files dropped in `<root>/<name>/inbox/`, answered in `results/`):

    residents    the address system's residents (F1): register them; a new subject's 符号
                 acquisition information goes to the intermediate server (F5); people due
                 with a ticket are registered with VRS (F11) and sent a notice (F2);
                 moved-out and deceased residents are flagged to VRS (F16)
    records      returned 予診票 results (F3): the doses are recorded and the person's 副本
                 registered with the intermediate server (F4)
    inquiries    `person,provider` rows: an inquiry through the network (F6)

Deliveries (written under `<root>/out/<kind>/`): inquiry results and 情報提供等記録 (F6,
R47), VRS exports as Shift_JIS CSV without any My Number (F13), dose records (F12),
rejection notices.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator

from adapters.health_mgmt.export_csv import export_csv
from adapters.health_mgmt.records_csv import read_batch, result_csv
from adapters.kit import folders
from adapters.kit.bridge import Bridge, Handler, payload_of
from adapters.kit.folders import Source
from adapters.kit.rows import RowError, Rows, read_rows, rows_result
from adapters.ports import InboxTransaction, ResidentRegister
from contracts.codes import (
    BasicCode,
    InternalPersonNumber,
    LocalGovCode,
    MyNumber,
    PersonName,
    PostalAddress,
    ResidentRecordCode,
    SystemId,
    TicketNumber,
    looks_like_my_number,
)
from contracts.envelope import Envelope
from contracts.payloads import (
    DoseHistoryItem,
    FukuhonRegistration,
    InquiryRequest,
    ResidentNotice,
    ResidentStatusFlag,
    TargetPerson,
    TargetRegistration,
    VaccinationExport,
)
from hub.errors import Conflict

__all__ = ["HealthMgmt", "InquiryRow", "ResidentRow"]

log = logging.getLogger("sesshu.adapters.health_mgmt")
HISTORY = "vaccination.history"


class ResidentRow(BaseModel):
    """One row of the address system's residents file (F1)."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)
    person: InternalPersonNumber
    basic_code: BasicCode
    resident_code: ResidentRecordCode
    my_number: MyNumber
    name: PersonName
    name_kana: PersonName | None = None
    birth_date: date
    sex: Literal[1, 2, 9]
    address: PostalAddress
    ticket_number: TicketNumber | None = None
    ticket_issued_on: date | None = None
    status: Literal["resident", "moved_out", "deceased"] = "resident"
    status_on: date | None = None

    @field_validator("basic_code")
    @classmethod
    def _not_like_a_my_number(cls, value: BasicCode) -> BasicCode:
        # VRS exports the basic code to health management, and an export that holds a
        # value passing the My Number check digit is refused whole (R22).
        if looks_like_my_number(str(value)):
            raise ValueError("passes the My Number check digit; the VRS export could not carry it")
        return value

    @field_validator("sex", mode="before")
    @classmethod
    def _sex_code(cls, value: object) -> object:
        # A CSV cell is text; the sex code is a number (1, 2 or 9).
        return int(value) if isinstance(value, str) and value.isdigit() else value


class InquiryRow(BaseModel):
    """One row of an inquiries file (F6): whom to ask about which person."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)
    person: InternalPersonNumber
    provider: LocalGovCode


@dataclass
class HealthMgmt:
    """One city's health-management system."""

    bridge: Bridge
    residents: ResidentRegister
    root: Path

    def prepare(self) -> HealthMgmt:
        """Create the edge folders."""
        folders.prepare(self.root, ("residents", "records", "inquiries"))
        return self

    def handlers(self) -> dict[str, Handler]:
        """What health management does with each kind delivered to it."""
        return {
            "inquiry_result": self.keep,
            "provision_record": self.keep,
            "dose_record": self.keep,
            "rejection_notice": self.keep,
            "vaccination_export": self.on_export,
        }

    # --- edge input ---------------------------------------------------------------------

    async def poll(self) -> int:
        """Handle every file waiting in the three inboxes; how many were handled."""
        return await folders.serve(
            self.root,
            {
                "residents": self.import_residents,
                "records": self.import_records,
                "inquiries": self.send_inquiries,
            },
        )

    async def import_residents(self, source: Source) -> str:
        """F1 (with F2, F5, F11, F16) for one residents file. What is sent for a person is
        decided by what was already sent for them (marked once confirmed), so handling the
        file again after a failed send sends what is missing and nothing twice."""
        rows = read_rows(source.data, ResidentRow)
        due: list[tuple[int, ResidentRow]] = []
        refused: list[RowError] = []
        for line, row in rows.good:
            resident = row.model_dump() | {"my_number": row.my_number.reveal()}
            try:
                await self.residents.put(resident)
            except Conflict as exc:  # a basic code or ticket another resident holds
                refused.append(RowError(line, "row", str(exc)))
                continue
            sent = await self.residents.get(str(row.person))
            if sent is None:  # only another process deleting it between the two reads
                continue
            if not sent["coded"]:
                await self._register_fukuhon(str(row.person), source, line, with_doses=False)
            if row.status != "resident" and sent["targeted"] and sent["flagged"] != row.status:
                await self._flag(row, source, line)
            if row.status == "resident" and sent["ticket_number"] and not sent["targeted"]:
                due.append((line, row))
        if due:
            await self._register_targets(due, source)
        return rows_result(rows, source.name, refused)

    async def _flag(self, row: ResidentRow, source: Source, line: int) -> None:
        flag = ResidentStatusFlag(
            basic_code=row.basic_code,
            ticket_number=row.ticket_number,
            flag=row.status,
            effective_on=row.status_on or datetime.now(UTC).date(),
        )
        await self.bridge.send(
            flag,
            to=SystemId.VRS,
            procedure="S19-16",
            data_item="covid.resident_status",
            message_id=source.stable_id(line, f"flag-{row.status}"),
        )
        await self.residents.mark_flagged(str(row.person), row.status)

    async def _register_targets(self, due: list[tuple[int, ResidentRow]], source: Source) -> None:
        targets = tuple(
            TargetPerson(
                basic_code=row.basic_code,
                my_number=row.my_number,
                name=row.name,
                name_kana=row.name_kana,
                birth_date=row.birth_date,
                sex=row.sex,
                address=row.address,
                ticket_number=row.ticket_number,
                ticket_issued_on=row.ticket_issued_on or datetime.now(UTC).date(),
            )
            for _, row in due
        )
        for start in range(0, len(targets), 1000):
            # Named by the people in it: a batch made again of the same people is the same.
            batch = ",".join(str(row.person) for _, row in due[start : start + 1000])
            registration = TargetRegistration(
                batch_id=source.stable_id(0, f"targets:{batch}"),
                purpose="transfer_out_provision",
                targets=targets[start : start + 1000],
            )
            await self.bridge.send(
                registration,
                to=SystemId.VRS,
                procedure="S19-16",
                data_item="covid.target",
                message_id=source.stable_id(0, f"target-batch:{batch}"),
            )
        self._print_run(due, source)
        for line, row in due:
            notice = ResidentNotice(
                notice_id=source.stable_id(line, "notice"),
                person=row.person,
                notice_type="vaccination_due",
            )
            await self.bridge.send(
                notice,
                to=SystemId.INTERMEDIATE,
                procedure="B2-115-2",
                data_item="notice.vaccination",
                message_id=source.stable_id(line, "notice-message"),
            )
        await self.residents.mark_targeted([str(row.person) for _, row in due])

    def _print_run(self, due: list[tuple[int, ResidentRow]], source: Source) -> None:
        """F2: the vaccination notices and 予診票 to print and post, one row per person."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(["basic_code", "name", "address", "ticket_number", "document"])
        for _, row in due:
            writer.writerow(
                [row.basic_code, row.name, row.address, row.ticket_number, "notice+yoshinhyo"]
            )
        self._write(
            "print",
            f"{Path(source.name).stem}.csv",
            out.getvalue().encode("cp932", errors="replace"),
        )

    async def import_records(self, source: Source) -> str:
        """F3 then F4: record each good row's dose, register each person's 副本."""
        batch = read_batch(source.data)
        touched: dict[str, int] = {}
        good = []
        for line, record in batch.records:
            resident = await self.residents.by_basic_code(str(record.basic_code))
            if resident is None:
                batch.errors.append(RowError(line, "basic_code", "no such resident"))
                continue
            dose = DoseHistoryItem(
                vaccine_type=record.vaccine_type,
                dose_number=record.dose_number,
                administered_on=record.administered_on,
                lot_number=record.lot_number,
                manufacturer=record.manufacturer,
            )
            await self.residents.put_dose(resident["person"], dose.model_dump())
            touched.setdefault(resident["person"], line)
            good.append((line, record))
        batch.records = good
        for person, line in touched.items():
            await self._register_fukuhon(person, source, line)
        return result_csv(batch, source.name)

    async def _register_fukuhon(
        self, person: str, source: Source, line: int, *, with_doses: bool = True
    ) -> None:
        """F4, and F5 the first time: the 符号 acquisition information of a new subject."""
        resident = await self.residents.get(person)
        if resident is None:  # registered by this same file a moment ago
            raise LookupError("a resident vanished from the register")
        doses = await self.residents.history(person) if with_doses else []
        history = tuple(DoseHistoryItem.model_validate(d) for d in doses)
        registration = FukuhonRegistration(
            person=InternalPersonNumber(person),
            data_item=HISTORY,
            history=history,
            resident_code=None if resident["coded"] else resident["resident_code"],
        )
        await self.bridge.send(
            registration,
            to=SystemId.INTERMEDIATE,
            procedure="B2-115-2",
            data_item=HISTORY,
            message_id=source.stable_id(line, f"fukuhon-{person}"),
        )
        if not resident["coded"]:
            await self.residents.mark_coded(person)

    async def send_inquiries(self, source: Source) -> str:
        """F6: one inquiry per row, through our intermediate server and the network."""
        rows: Rows[InquiryRow] = read_rows(source.data, InquiryRow)
        for line, row in rows.good:
            inquiry = InquiryRequest(
                inquiry_id=source.stable_id(line, "inquiry"),
                inquirer=LocalGovCode(self.bridge.municipality),
                provider=row.provider,
                person=row.person,
            )
            await self.bridge.send(
                inquiry,
                to=SystemId.INTERMEDIATE,
                procedure="B2-115-2",
                data_item=HISTORY,
                message_id=source.stable_id(line, "inquiry-message"),
            )
        return rows_result(rows, source.name)

    # --- deliveries -----------------------------------------------------------------------

    async def keep(self, envelope: Envelope, tx: InboxTransaction) -> None:
        """Write a delivery to `out/<kind>/<message id>.json` for the system to read."""
        self._write(
            envelope.kind,
            f"{envelope.id}.json",
            json.dumps(envelope.payload.model_dump(mode="json"), ensure_ascii=False).encode(),
        )
        await tx.record_effect(f"kept:{envelope.kind}")

    async def on_export(self, envelope: Envelope, tx: InboxTransaction) -> None:
        """F13: the VRS export as the Shift_JIS CSV the system imports (no My Number)."""
        export = payload_of(envelope, VaccinationExport)
        self._write("vaccination_export", f"{export.batch_id}.csv", export_csv(export))
        await tx.record_effect(f"export:{len(export.rows)}")

    def _write(self, kind: str, name: str, data: bytes) -> None:
        folder = self.root / "out" / kind
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / (name + ".part")
        partial.write_bytes(data)
        partial.replace(folder / name)
