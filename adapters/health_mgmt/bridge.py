from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal, Protocol
from uuid import UUID

from pydantic import BaseModel, ConfigDict, field_validator

from adapters.kit.acts import Act, operator_of
from adapters.kit.bridge import Bridge
from adapters.kit.handlers import Handler, LineIds, payload_of
from adapters.kit.rows import RowError
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
    Payload,
    ResidentNotice,
    ResidentStatusFlag,
    TargetPerson,
    TargetRegistration,
    VaccinationExport,
    VaccinationRecord,
)
from hub.errors import Conflict

__all__ = ["Due", "HealthMgmt", "InquiryRow", "Output", "ResidentRow"]

log = logging.getLogger("sesshu.adapters.health_mgmt")
HISTORY = "vaccination.history"
_NOBODY: Mapping[int, Act] = {}


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


Due = tuple[int, ResidentRow]
"""A resident due for vaccination, with the line of the residents file that made them so."""


class Output(Protocol):
    """Where health management reads what is delivered to it (the edge's `OutFolder`)."""

    def keep(self, kind: str, message_id: UUID, payload: Payload) -> None:
        """A delivery's payload as it came."""
        ...

    def export(self, export: VaccinationExport) -> None:
        """F13: a VRS export, in the layout the system imports."""
        ...


@dataclass
class HealthMgmt:
    """One city's health-management system, as the hub sees it."""

    bridge: Bridge
    residents: ResidentRegister
    out: Output

    def handlers(self) -> dict[str, Handler]:
        """What health management does with each kind delivered to it."""
        return {
            "inquiry_result": self.keep,
            "provision_record": self.keep,
            "dose_record": self.keep,
            "rejection_notice": self.keep,
            "vaccination_export": self.on_export,
        }

    # --- what the edge hands over ---------------------------------------------------------

    async def register_residents(
        self, rows: Sequence[Due], ids: LineIds, by: Mapping[int, Act] = _NOBODY
    ) -> tuple[list[Due], list[RowError]]:
        """F1 (with F5, F16) for the good rows of one residents file: (the people due, the
        rows refused); what each row sends names its operator (`by`). What is sent for a
        person is decided by what was already sent for
        them (marked once confirmed), so handling the file again after a failed send sends
        what is missing and nothing twice."""
        due: list[Due] = []
        refused: list[RowError] = []
        for line, row in rows:
            resident = row.model_dump() | {"my_number": row.my_number.reveal()}
            try:
                await self.residents.put(resident)
            except Conflict as exc:  # a basic code or ticket another resident holds
                refused.append(RowError(line, "row", str(exc)))
                continue
            sent = await self.residents.get(str(row.person))
            if sent is None:  # only another process deleting it between the two reads
                continue
            operator = operator_of(by, line)
            if not sent["coded"]:
                await self._register_fukuhon(str(row.person), ids, line, operator, with_doses=False)
            if row.status != "resident" and sent["targeted"] and sent["flagged"] != row.status:
                await self._flag(row, ids, line, operator)
            if row.status == "resident" and sent["ticket_number"] and not sent["targeted"]:
                due.append((line, row))
        return due, refused

    async def _flag(self, row: ResidentRow, ids: LineIds, line: int, operator: str | None) -> None:
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
            message_id=ids(line, f"flag-{row.status}"),
            operator=operator,
        )
        await self.residents.mark_flagged(str(row.person), row.status)

    async def register_targets(
        self, due: Sequence[Due], ids: LineIds, by: Mapping[int, Act] = _NOBODY
    ) -> None:
        """F11 and F2: the people due registered with VRS with their tickets, in batches
        of 1000 (one operator's rows to a batch), and a notice for each through the
        intermediate server; then marked."""
        by_operator: dict[str | None, list[Due]] = {}
        for line, row in due:
            by_operator.setdefault(operator_of(by, line), []).append((line, row))
        for operator, theirs in by_operator.items():
            await self._targets(theirs, ids, operator)
        for line, row in due:
            notice = ResidentNotice(
                notice_id=ids(line, "notice"), person=row.person, notice_type="vaccination_due"
            )
            await self.bridge.send(
                notice,
                to=SystemId.INTERMEDIATE,
                procedure="B2-115-2",
                data_item="notice.vaccination",
                message_id=ids(line, "notice-message"),
                operator=operator_of(by, line),
            )
        await self.residents.mark_targeted([str(row.person) for _, row in due])

    async def _targets(self, due: Sequence[Due], ids: LineIds, operator: str | None) -> None:
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
                batch_id=ids(0, f"targets:{batch}"),
                purpose="transfer_out_provision",
                targets=targets[start : start + 1000],
            )
            await self.bridge.send(
                registration,
                to=SystemId.VRS,
                procedure="S19-16",
                data_item="covid.target",
                message_id=ids(0, f"target-batch:{batch}"),
                operator=operator,
            )

    async def record_doses(
        self,
        records: Sequence[tuple[int, VaccinationRecord]],
        ids: LineIds,
        by: Mapping[int, Act] = _NOBODY,
    ) -> list[RowError]:
        """F3 then F4 for the good rows of one 予診票 batch: record each row's dose,
        register each person's 副本; the rows refused (no such resident)."""
        touched: dict[str, int] = {}
        refused: list[RowError] = []
        for line, record in records:
            resident = await self.residents.by_basic_code(str(record.basic_code))
            if resident is None:
                refused.append(RowError(line, "basic_code", "no such resident"))
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
        for person, line in touched.items():
            await self._register_fukuhon(person, ids, line, operator_of(by, line))
        return refused

    async def _register_fukuhon(
        self,
        person: str,
        ids: LineIds,
        line: int,
        operator: str | None,
        *,
        with_doses: bool = True,
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
            message_id=ids(line, f"fukuhon-{person}"),
            operator=operator,
        )
        if not resident["coded"]:
            await self.residents.mark_coded(person)

    async def inquire(
        self,
        rows: Sequence[tuple[int, InquiryRow]],
        ids: LineIds,
        by: Mapping[int, Act] = _NOBODY,
    ) -> None:
        """F6: one inquiry per row, through our intermediate server and the network, each
        naming the staff account that asked."""
        for line, row in rows:
            inquiry = InquiryRequest(
                inquiry_id=ids(line, "inquiry"),
                inquirer=LocalGovCode(self.bridge.municipality),
                provider=row.provider,
                person=row.person,
            )
            await self.bridge.send(
                inquiry,
                to=SystemId.INTERMEDIATE,
                procedure="B2-115-2",
                data_item=HISTORY,
                message_id=ids(line, "inquiry-message"),
                operator=operator_of(by, line),
            )

    # --- deliveries -----------------------------------------------------------------------

    async def keep(self, envelope: Envelope, tx: InboxTransaction) -> None:
        """Hand a delivery to the system as it came (`out/<kind>/<message id>.json`)."""
        self.out.keep(envelope.kind, envelope.id, envelope.payload)
        await tx.record_effect(f"kept:{envelope.kind}")

    async def on_export(self, envelope: Envelope, tx: InboxTransaction) -> None:
        """F13: the VRS export, for the system to import (no My Number)."""
        export = payload_of(envelope, VaccinationExport)
        self.out.export(export)
        await tx.record_effect(f"export:{len(export.rows)}")
