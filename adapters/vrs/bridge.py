"""VRS (ワクチン接種記録システム), one city's part of it, as an adapter: the envelopes it
signs and sends, and what it does with each one delivered to it.

Its edge (`edge.py`) reads the request files and hands this side their good rows, each
with its line, so that every message is named by the line that caused it (`LineIds`):

    record_doses  the vaccination site read the ticket (F12): the dose is recorded and
                  reported to health management
    ask_former    counter staff ask a new resident's former city for their records
                  (F14): only with the My Number confirmed in our register (R04) and,
                  where the city's policy asks for it, the resident's consent (R02)
    export        after each look at the folders: the doses not yet exported, to health
                  management without any My Number (F13)

Deliveries:

    target_registration     people due and their tickets (F11)
    resident_status_flag    moved out, deceased, cleared (F16)
    transfer_in_inquiry     from a new city: our records for that My Number (F15)
    transfer_out_provision  a former city's records for our new resident (F14)
    certificate_application a certificate for a resident's doses, as a SMART Health Card
                            (F17-F19); the card's signature is checked again here (F18)
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict

from adapters.kit.bridge import (
    Bridge,
    Handler,
    LineIds,
    SealingKeys,
    opened,
    payload_of,
    reply_id,
)
from adapters.kit.card_check import CardRejected, check_application
from adapters.kit.rows import RowError
from adapters.kit.shc import CardError, Issuer, health_card
from adapters.ports import InboxTransaction, VrsBook
from contracts.codes import LocalGovCode, MyNumber, SystemId, TicketNumber
from contracts.envelope import Envelope, stable_message_id
from contracts.payloads import (
    CertificateApplication,
    CertificateIssued,
    CovidDose,
    DoseRecord,
    ExportRow,
    IdentityCheck,
    ResidentStatusFlag,
    TargetRegistration,
    TransferInInquiry,
    TransferOutProvision,
    VaccinationExport,
)
from contracts.sealing import SealError

__all__ = ["TransferInRow", "Vrs"]

log = logging.getLogger("sesshu.adapters.vrs")
PROCEDURE, RECORDS = "S19-16", "covid.vaccination_record"
_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


class TransferInRow(BaseModel):
    """One row of a transfer-in request file (F14; VRS takes such files since Mar 2022)."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)
    my_number: MyNumber
    former_municipality: LocalGovCode
    ticket_number: TicketNumber | None = None
    register_confirmed: bool
    consent_reference: str | None = None
    id_document: Literal["my_number_card", "passport", "driving_licence", "other"]
    checked_by: str
    checked_at: datetime


@dataclass
class Vrs:
    """One city's part of VRS."""

    bridge: Bridge
    book: VrsBook
    issuer: Issuer
    consent_required: bool
    card_authority: Ed25519PublicKey
    sealing_keys: SealingKeys
    """Opens the certificate applications sealed to this VRS."""

    @property
    def city(self) -> str:
        """The municipality whose part of VRS this is."""
        return self.bridge.municipality

    def handlers(self) -> dict[str, Handler]:
        """What VRS does with each kind delivered to it."""
        return {
            "target_registration": self.on_targets,
            "resident_status_flag": self.on_flag,
            "transfer_in_inquiry": self.on_transfer_inquiry,
            "transfer_out_provision": self.on_transfer_provision,
            "certificate_application": self.on_application,
        }

    # --- what the edge hands over -----------------------------------------------------------

    async def record_doses(
        self, rows: Sequence[tuple[int, DoseRecord]], ids: LineIds
    ) -> list[RowError]:
        """F12: each dose read from a ticket, recorded once and reported; the rows refused."""
        refused: list[RowError] = []
        for line, record in rows:
            if await self.book.target(ticket=str(record.ticket_number)) is None:
                refused.append(RowError(line, "ticket_number", "no such ticket in this city"))
                continue
            dose = CovidDose(
                dose_number=record.dose_number,
                vaccinated_on=record.vaccinated_on,
                manufacturer=record.manufacturer,
                lot_number=record.lot_number,
                product_name=record.product_name,
            )
            ticket = str(record.ticket_number)
            await self.book.put_dose(
                ticket, record.dose_number, dose.model_dump(mode="json"), "site"
            )
            # Sent every time, under the line's stable id: after a failed send, the file
            # handled again sends it, and the hub drops it if it had gone after all.
            await self.bridge.send(
                record,
                to=SystemId.HEALTH_MGMT,
                procedure=PROCEDURE,
                data_item="covid.dose",
                message_id=ids(line, "dose"),
            )
        return refused

    async def ask_former(
        self, rows: Sequence[tuple[int, TransferInRow]], ids: LineIds
    ) -> list[RowError]:
        """F14: a transfer-in inquiry per row, under R04 and the consent policy (R02); the
        rows refused."""
        refused: list[RowError] = []
        for line, row in rows:
            problem = self._transfer_problem(row)
            if problem is not None:
                refused.append(RowError(line, *problem))
                continue
            inquiry = TransferInInquiry(
                inquiry_id=ids(line, "transfer-in"),
                former_municipality=row.former_municipality,
                my_number=row.my_number,
                register_confirmed=True,
                consent_reference=row.consent_reference,
                identity_check=IdentityCheck(
                    document=row.id_document, checked_at=row.checked_at, checked_by=row.checked_by
                ),
            )
            await self.book.put_transfer(
                inquiry.inquiry_id, str(row.former_municipality), row.ticket_number
            )
            await self.bridge.send(
                inquiry,
                to=SystemId.VRS,
                city=str(row.former_municipality),
                procedure=PROCEDURE,
                data_item=RECORDS,
                message_id=ids(line, "transfer-in-message"),
            )
        return refused

    def _transfer_problem(self, row: TransferInRow) -> tuple[str, str] | None:
        if not row.register_confirmed:
            return (
                "register_confirmed",
                "confirm the My Number in the resident register first (R04)",
            )
        if self.consent_required and not row.consent_reference:
            return "consent_reference", "this city asks for the resident's consent (R02)"
        if str(row.former_municipality) == self.city:
            return "former_municipality", "the former city is this city"
        return None

    async def export(self, limit: int = 5000) -> int:
        """F13: the doses not yet exported, to health management (never a My Number)."""
        pending = await self.book.unexported(limit)
        if not pending:
            return 0
        rows = tuple(
            ExportRow(
                basic_code=r["basic_code"],
                ticket_number=r["ticket_number"],
                dose=CovidDose.model_validate(_json(r["dose"])),
            )
            for r in pending
        )
        keys = [(r["ticket_number"], int(r["dose_number"])) for r in pending]
        seed = hashlib.sha256(repr(keys).encode()).digest()
        export = VaccinationExport(batch_id=stable_message_id(seed + b"batch", _EPOCH), rows=rows)
        await self.bridge.send(
            export,
            to=SystemId.HEALTH_MGMT,
            procedure=PROCEDURE,
            data_item=RECORDS,
            message_id=stable_message_id(seed + b"message", _EPOCH),
        )
        await self.book.mark_exported(keys)
        return len(rows)

    # --- deliveries -------------------------------------------------------------------------

    async def on_targets(self, envelope: Envelope, tx: InboxTransaction) -> None:
        """F11: register the people due and their tickets."""
        registration = payload_of(envelope, TargetRegistration)
        for target in registration.targets:
            fields = target.model_dump()
            fields["my_number"] = None if target.my_number is None else target.my_number.reveal()
            await self.book.put_target(fields)
        await tx.record_effect(f"targets:{len(registration.targets)}")

    async def on_flag(self, envelope: Envelope, tx: InboxTransaction) -> None:
        """F16: a target moved out, died, or was cleared."""
        flag = payload_of(envelope, ResidentStatusFlag)
        status = "active" if flag.flag == "cleared" else flag.flag
        known = await self.book.set_status(str(flag.basic_code), status, flag.effective_on)
        await tx.record_effect(f"flag:{status}" if known else "refused:unknown_target")

    async def on_transfer_inquiry(self, envelope: Envelope, tx: InboxTransaction) -> None:
        """F15: our records for the My Number the new city confirmed in its register."""
        inquiry = payload_of(envelope, TransferInInquiry)
        target = await self.book.target(my_number=inquiry.my_number.reveal())
        doses = [] if target is None else await self.book.doses(target["ticket_number"])
        provision = TransferOutProvision(
            inquiry_id=inquiry.inquiry_id,
            my_number=inquiry.my_number,
            register_confirmed=True,
            status="provided" if doses else "no_record",
            doses=tuple(CovidDose.model_validate(d) for d in doses),
        )
        await self.bridge.send(
            provision,
            to=SystemId.VRS,
            city=str(envelope.municipality),
            procedure=PROCEDURE,
            data_item=RECORDS,
            cause=envelope,
        )
        await tx.record_effect(f"transfer_out:{provision.status}")

    async def on_transfer_provision(self, envelope: Envelope, tx: InboxTransaction) -> None:
        """F14's answer: the former city's doses become our new resident's."""
        provision = payload_of(envelope, TransferOutProvision)
        asked = await self.book.transfer(provision.inquiry_id)
        if asked is None or asked["former_municipality"] != str(envelope.municipality):
            await tx.record_effect("refused:unknown_inquiry")
            return
        number = provision.my_number.reveal()
        target = (
            await self.book.target(ticket=asked["ticket_number"])
            if asked["ticket_number"]
            else await self.book.target(my_number=number)
        )
        # Only the person asked about: the records must be for our resident's number (R04).
        if target is not None and target["my_number"] not in (None, number):
            await tx.record_effect("refused:number_mismatch")
            return
        if target is not None:
            for dose in provision.doses:
                await self.book.put_dose(
                    target["ticket_number"],
                    dose.dose_number,
                    dose.model_dump(mode="json"),
                    "transfer_in",
                )
        await self.book.transfer_answered(
            provision.inquiry_id, provision.status, len(provision.doses)
        )
        await tx.record_effect(f"transfer_in:{provision.status}:{len(provision.doses)}")

    async def on_application(self, envelope: Envelope, tx: InboxTransaction) -> None:
        """F17-F19: issue the certificate as a SMART Health Card, or refuse."""
        try:
            application = opened(envelope, CertificateApplication, self.sealing_keys)
        except SealError:
            await tx.record_effect("refused:seal")
            return
        try:
            check_application(
                application,
                card_authority=self.card_authority,
                municipality=self.city,
                enrolled=[self.city],  # the center applied R10; VRS checks the card (F18)
            )
            jws = await self._card_for(application)
        except (CardRejected, CardError) as exc:
            code = getattr(exc, "code", "no_record")
            log.warning("certificate application %s refused: %s", envelope.id, code)
            await tx.record_effect(f"refused:{code}")
            return
        issued = CertificateIssued(
            application_id=application.application_id,
            certificate_id=f"CERT-{reply_id(envelope, 'certificate').hex[:24]}",
            issued_on=datetime.now(UTC).date(),
            jws=jws,
        )
        # Sealed to the center: the hub journals the certificate as ciphertext only (R50).
        await self.bridge.send_sealed(
            issued,
            to=SystemId.KIOSK,
            procedure=PROCEDURE,
            data_item="covid.certificate",
            cause=envelope,
        )
        await tx.record_effect("certificate:issued")

    async def _card_for(self, application: CertificateApplication) -> str:
        target = await self.book.target(my_number=application.my_number.reveal())
        if target is None or target["status"] == "deceased":
            raise CardError("no_record")
        doses = [
            CovidDose.model_validate(d) for d in await self.book.doses(target["ticket_number"])
        ]
        return health_card(
            self.issuer,
            name=str(application.name),
            birth_date=application.birth_date,
            doses=doses,
            issued_at=datetime.now(UTC),
        )


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
