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

What the transfers decide and keep is `transfers` (F14, F15); the certificate itself is
`certificates` (F17-F19).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from adapters.kit import counts
from adapters.kit.acts import Act, operator_of
from adapters.kit.bridge import Bridge
from adapters.kit.card_check import CardRejected
from adapters.kit.handlers import Handler, LineIds, payload_of, reply_id
from adapters.kit.rows import RowError
from adapters.kit.sealed import Refusal
from adapters.kit.shc import CardError, Issuer, IssuingBody
from adapters.ports import InboxTransaction, Row, VrsBook
from adapters.vrs.certificates import issue
from adapters.vrs.transfers import (
    TransferInRow,
    provision_for,
    resident_for,
    take_in,
    transfer_inquiry,
)
from contracts.codes import SystemId
from contracts.envelope import Envelope, stable_message_id
from contracts.payloads import (
    CERTIFICATE_REFUSALS,
    CertificateApplication,
    CertificateIssued,
    CovidDose,
    DoseRecord,
    ExportRow,
    RefusalCode,
    ResidentStatusFlag,
    TargetRegistration,
    TransferInInquiry,
    TransferOutProvision,
    VaccinationExport,
)

__all__ = ["Vrs"]

log = logging.getLogger("sesshu.adapters.vrs")
PROCEDURE, RECORDS = "S19-16", "covid.vaccination_record"
_NOBODY: Mapping[int, Act] = {}
_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
_CLOCK_SKEW = timedelta(seconds=5)


@dataclass
class Vrs:
    """One city's part of VRS."""

    bridge: Bridge
    book: VrsBook
    issuer: Issuer
    consent_required: bool
    card_authority: Ed25519PublicKey
    issuing_body: IssuingBody
    application_window: timedelta = timedelta(seconds=20)
    """How long the center keeps an application open (its wait for the certificate): one
    older than this, and the skew of two clocks, is closed (R05)."""

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
        self,
        rows: Sequence[tuple[int, DoseRecord]],
        ids: LineIds,
        by: Mapping[int, Act] = _NOBODY,
    ) -> list[RowError]:
        """F12: each dose read from a ticket, recorded once and reported; the rows refused."""
        refused: list[RowError] = []
        for line, record in rows:
            ticket = str(record.ticket_number)
            if await self.book.target(ticket=ticket) is None:
                refused.append(RowError(line, "ticket_number", "no such ticket in this city"))
                continue
            dose = _dose(record).model_dump(mode="json")
            await self.book.put_dose(ticket, record.dose_number, dose, "site")
            # Sent every time, under the line's stable id: after a failed send, the file
            # handled again sends it, and the hub drops it if it had gone after all.
            await self.bridge.send(
                record,
                to=SystemId.HEALTH_MGMT,
                procedure=PROCEDURE,
                data_item="covid.dose",
                message_id=ids(line, "dose"),
                operator=operator_of(by, line),
            )
        return refused

    async def ask_former(
        self,
        rows: Sequence[tuple[int, TransferInRow]],
        ids: LineIds,
        by: Mapping[int, Act] = _NOBODY,
    ) -> list[RowError]:
        """F14: a transfer-in inquiry per row, under R04 and the consent policy (R02), each
        naming the staff account that asked; the rows refused."""
        refused: list[RowError] = []
        for line, row in rows:
            resident = await resident_for(
                self.book, row, city=self.city, consent_required=self.consent_required
            )
            if isinstance(resident, tuple):
                refused.append(RowError(line, *resident))
                continue
            inquiry = transfer_inquiry(row, ids(line, "transfer-in"))
            former = str(row.former_municipality)
            # Under the resident's own ticket: the answer is taken in for them alone.
            await self.book.put_transfer(inquiry.inquiry_id, former, resident["ticket_number"])
            await self.bridge.send(
                inquiry,
                to=SystemId.VRS,
                city=former,
                procedure=PROCEDURE,
                data_item=RECORDS,
                message_id=ids(line, "transfer-in-message"),
                operator=operator_of(by, line),
            )
            counts.event(self.bridge, "transfer_requested")
        return refused

    async def export(self, limit: int = 5000) -> int:
        """F13: the doses not yet exported, to health management (never a My Number)."""
        pending = await self.book.unexported(limit)
        if not pending:
            return 0
        keys = [(r["ticket_number"], int(r["dose_number"])) for r in pending]
        seed = hashlib.sha256(repr(keys).encode()).digest()
        await self.bridge.send(
            _export_of(pending, seed),
            to=SystemId.HEALTH_MGMT,
            procedure=PROCEDURE,
            data_item=RECORDS,
            message_id=stable_message_id(seed + b"message", _EPOCH),
        )
        await self.book.mark_exported(keys)
        return len(pending)

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
        provision, review = await provision_for(
            self.book,
            payload_of(envelope, TransferInInquiry),
            inquirer=str(envelope.municipality),
            consent_required=self.consent_required,
        )
        await self.bridge.send(
            provision,
            to=SystemId.VRS,
            city=str(envelope.municipality),
            procedure=PROCEDURE,
            data_item=RECORDS,
            cause=envelope,
            review=review,
        )
        await tx.record_effect(f"transfer_out:{provision.status}")
        counts.event(self.bridge, "transfer_provided", tx)

    async def on_transfer_provision(self, envelope: Envelope, tx: InboxTransaction) -> None:
        """F14's answer: the former city's doses become our new resident's."""
        provision = payload_of(envelope, TransferOutProvision)
        effect = await take_in(self.book, provision, sender=str(envelope.municipality))
        await tx.record_effect(effect)
        if not effect.startswith("refused:"):  # as every refusal is recorded
            counts.event(self.bridge, "transfer_answered", tx)

    async def on_application(self, envelope: Envelope, tx: InboxTransaction) -> None:
        """F17-F19: issue the certificate as a SMART Health Card, or refuse. R05: the My
        Number of a certificate application is used only while the application is open at
        the center, which stops waiting after `application_window`: a late or replayed
        application is refused (`application_closed`) and its number looked up nowhere."""
        application = payload_of(envelope, CertificateApplication)  # opened by the bridge
        if datetime.now(UTC) - envelope.sent_at > self.application_window + _CLOCK_SKEW:
            await self._refuse(envelope, tx, "application_closed")
            return
        issued = await self._certificate(application, envelope, tx)
        if issued is None:
            return
        # Sealed to the center: the hub journals the certificate as ciphertext only (R50).
        await self.bridge.send(
            issued,
            to=SystemId.KIOSK,
            procedure=PROCEDURE,
            data_item="covid.certificate",
            cause=envelope,
        )
        await tx.record_effect("certificate:issued")
        counts.event(self.bridge, "certificate_issued", tx)

    async def _certificate(
        self, application: CertificateApplication, envelope: Envelope, tx: InboxTransaction
    ) -> CertificateIssued | None:
        """The certificate; None, recorded as refused, if the card or the records allow none."""
        try:
            return await issue(
                application,
                book=self.book,
                issuer=self.issuer,
                issuing_body=self.issuing_body,
                card_authority=self.card_authority,
                city=self.city,
                certificate_id=f"CERT-{reply_id(envelope, 'certificate').hex[:24]}",
            )
        except (CardRejected, CardError) as exc:
            await self._refuse(envelope, tx, exc.code)
            return None

    async def _refuse(self, envelope: Envelope, tx: InboxTransaction, code: str) -> None:
        """Record a refused application and tell the center at once (a `delivery_refusal`
        naming the code, nothing of the person), so its terminal need not wait."""
        log.warning("certificate application %s refused: %s", envelope.id, code)
        await tx.record_effect(f"refused:{code}")
        counts.event(self.bridge, "certificate_refused", tx)
        told = code if code in CERTIFICATE_REFUSALS else "content_invalid"
        await self.bridge.refuse(
            envelope, Refusal(cast(RefusalCode, told), f"the certificate application: {code}")
        )


def _dose(record: DoseRecord) -> CovidDose:
    return CovidDose(
        dose_number=record.dose_number,
        vaccinated_on=record.vaccinated_on,
        manufacturer=record.manufacturer,
        lot_number=record.lot_number,
        product_name=record.product_name,
    )


def _export_of(pending: Sequence[Row], seed: bytes) -> VaccinationExport:
    rows = tuple(
        ExportRow(
            basic_code=r["basic_code"],
            ticket_number=r["ticket_number"],
            dose=CovidDose.model_validate(_json(r["dose"])),
        )
        for r in pending
    )
    return VaccinationExport(batch_id=stable_message_id(seed + b"batch", _EPOCH), rows=rows)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
