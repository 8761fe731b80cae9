"""A resident's records moving between two cities' VRS (F14, F15).

The new city asks the former one, from a row of the counter's transfer-in file
(`TransferInRow`), only with the My Number confirmed in its own register (R04) and,
where its policy asks for it, the resident's consent (R02): `transfer_problem`. The
former city answers with the doses it holds for that number (`provision_for`); the
answer becomes the new resident's doses only if it is for the person asked about
(`take_in`). `bridge.Vrs` sends and receives; this is what it decides and keeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from adapters.ports import Row, VrsBook
from contracts.codes import LocalGovCode, MyNumber, SystemId, TicketNumber
from contracts.payloads import (
    CovidDose,
    IdentityCheck,
    ReviewCopy,
    ReviewSubject,
    TransferInInquiry,
    TransferOutProvision,
)

__all__ = ["TransferInRow", "provision_for", "take_in", "transfer_inquiry", "transfer_problem"]


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


def transfer_problem(
    row: TransferInRow, *, city: str, consent_required: bool
) -> tuple[str, str] | None:
    """Why `city` may not ask the former city about this row, as (field, reason), if so."""
    if not row.register_confirmed:
        return (
            "register_confirmed",
            "confirm the My Number in the resident register first (R04)",
        )
    if consent_required and not row.consent_reference:
        return "consent_reference", "this city asks for the resident's consent (R02)"
    if str(row.former_municipality) == city:
        return "former_municipality", "the former city is this city"
    return None


def transfer_inquiry(row: TransferInRow, inquiry_id: UUID) -> TransferInInquiry:
    """F14: the inquiry a row makes, once `transfer_problem` found nothing against it."""
    return TransferInInquiry(
        inquiry_id=inquiry_id,
        former_municipality=row.former_municipality,
        my_number=row.my_number,
        register_confirmed=True,
        consent_reference=row.consent_reference,
        identity_check=IdentityCheck(
            document=row.id_document, checked_at=row.checked_at, checked_by=row.checked_by
        ),
    )


async def provision_for(
    book: VrsBook, inquiry: TransferInInquiry, *, inquirer: str
) -> tuple[TransferOutProvision, ReviewCopy]:
    """F15: our records for the My Number the new city (`inquirer`) confirmed in its
    register, and the review copy a 所属長 of ours would see if it is held (R37)."""
    target = await book.target(my_number=inquiry.my_number.reveal())
    doses = [] if target is None else await book.doses(target["ticket_number"])
    provision = TransferOutProvision(
        inquiry_id=inquiry.inquiry_id,
        my_number=inquiry.my_number,
        register_confirmed=True,
        status="provided" if doses else "no_record",
        doses=tuple(CovidDose.model_validate(d) for d in doses),
    )
    subject = (
        ReviewSubject()
        if target is None
        else ReviewSubject(
            reference=target["basic_code"], name=target["name"], birth_date=target["birth_date"]
        )
    )
    review = ReviewCopy(
        inquirer=inquirer, inquirer_system=SystemId.VRS, subject=subject, provision=provision
    )
    return provision, review


async def take_in(book: VrsBook, provision: TransferOutProvision, *, sender: str) -> str:
    """F14's answer from the city `sender`: the former city's doses become our new
    resident's; the effect to record."""
    asked = await book.transfer(provision.inquiry_id)
    if asked is None or asked["former_municipality"] != sender:
        return "refused:unknown_inquiry"
    number = provision.my_number.reveal()
    target = await _resident(book, asked, number)
    # Only the person asked about: the records must be for our resident's number (R04).
    if target is not None and target["my_number"] not in (None, number):
        return "refused:number_mismatch"
    if target is not None:
        await _put_doses(book, target["ticket_number"], provision.doses)
    await book.transfer_answered(provision.inquiry_id, provision.status, len(provision.doses))
    return f"transfer_in:{provision.status}:{len(provision.doses)}"


async def _resident(book: VrsBook, asked: Row, number: str) -> Row | None:
    # By the ticket the counter gave, else by the number asked about.
    if asked["ticket_number"]:
        return await book.target(ticket=asked["ticket_number"])
    return await book.target(my_number=number)


async def _put_doses(book: VrsBook, ticket: str, doses: Sequence[CovidDose]) -> None:
    for dose in doses:
        await book.put_dose(ticket, dose.dose_number, dose.model_dump(mode="json"), "transfer_in")
