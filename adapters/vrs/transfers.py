"""A resident's records moving between two cities' VRS (F14, F15).

The new city asks the former one, from a row of the counter's transfer-in file
(`TransferInRow`), only for a resident its own register holds under that My Number (R04)
and, where its policy asks for it, with the resident's consent (R02): `resident_for`. The
former city answers with the doses it holds for that number (`provision_for`), or refuses
an inquiry without consent or ID-check record where its own policy asks for them; the
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
    TransferRefusal,
)

__all__ = [
    "Problem",
    "TransferInRow",
    "inquiry_refusal",
    "provision_for",
    "resident_for",
    "take_in",
    "transfer_inquiry",
    "transfer_problem",
]


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


Problem = tuple[str, str]
"""Why a row may not be asked about: (field, reason), never the value."""


async def resident_for(
    book: VrsBook, row: TransferInRow, *, city: str, consent_required: bool
) -> Row | Problem:
    """The resident of `city` a row asks the former city about, or why it may not ask.

    The clerk's `register_confirmed` is not taken on trust: the My Number must be a
    resident's of this city's own register (the health-management system's residents, as
    registered here: R04), and a ticket the row gives must be that resident's. The inquiry
    then remembers the resident's ticket, so the answer is taken in for them alone."""
    problem = transfer_problem(row, city=city, consent_required=consent_required)
    if problem is not None:
        return problem
    resident = await book.target(my_number=row.my_number.reveal())
    if resident is None:
        return "my_number", "not a resident in this city's register (R04)"
    if row.ticket_number is not None and resident["ticket_number"] != str(row.ticket_number):
        return "ticket_number", "not the ticket of the resident with this My Number"
    return resident


def transfer_problem(row: TransferInRow, *, city: str, consent_required: bool) -> Problem | None:
    """Why `city` may not ask the former city about this row, as (field, reason), if so,
    from the row alone (`resident_for` checks it against the register too)."""
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


def inquiry_refusal(
    inquiry: TransferInInquiry, *, consent_required: bool
) -> TransferRefusal | None:
    """Why the former city will not answer an inquiry (F15), if so: its policy asks for
    the resident's consent and the record of how the asking counter checked who they are
    (R02), and the inquiry lacks one."""
    if not consent_required:
        return None
    if not inquiry.consent_reference:
        return "no_consent"
    if inquiry.identity_check is None:
        return "no_identity_check"
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
    book: VrsBook, inquiry: TransferInInquiry, *, inquirer: str, consent_required: bool
) -> tuple[TransferOutProvision, ReviewCopy]:
    """F15: our records for the My Number the new city (`inquirer`) confirmed in its
    register, if we find that person (else none) and our policy lets us answer (else a
    refusal, `inquiry_refusal`), and the review copy a 所属長 of ours would see if it is
    held (R37)."""
    refusal = inquiry_refusal(inquiry, consent_required=consent_required)
    target = None if refusal else await book.target(my_number=inquiry.my_number.reveal())
    doses = [] if target is None else await book.doses(target["ticket_number"])
    provision = TransferOutProvision(
        inquiry_id=inquiry.inquiry_id,
        my_number=inquiry.my_number,
        register_confirmed=True,
        status="refused" if refusal else "provided" if doses else "no_record",
        refusal=refusal,
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
    if provision.status == "refused":
        await book.transfer_answered(provision.inquiry_id, "refused", 0)
        return f"transfer_in:refused:{provision.refusal}"
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
