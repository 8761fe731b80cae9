"""Transfer checks at the receiver (issue 15; R02-R04, F14, F15). The asking city's VRS
asks about a resident its own register holds under that My Number, not on the clerk's
word; the former city's VRS refuses an inquiry without consent or ID-check record where
its policy asks for them, and answers only for a person it finds; the asking side refuses
an answer that holds anyone else's records (`number_mismatch`)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from adapters.vrs.memory import MemoryVrsBook
from adapters.vrs.transfers import TransferInRow
from contracts.codes import SystemId, my_number_check_digit
from contracts.examples import example_payload
from contracts.payloads import TargetRegistration, TransferInInquiry, TransferOutProvision
from tests.unit.test_adapter_events import CITY, OTHER, Recorder, delivered, handled, vrs


def number(base: str) -> str:
    return base + str(my_number_check_digit(base))


RESIDENT, STRANGER = number("12345678901"), number("98765432109")


async def registered(book: MemoryVrsBook, my_number: str) -> str:
    """A resident of this city's register (as health management registered them, F11);
    their ticket."""
    (target,) = TargetRegistration.model_validate(
        example_payload("target_registration").model_dump()
    ).targets[:1]
    ticket = f"{uuid4().int % 10**10:010d}"
    await book.put_target(
        target.model_dump()
        | {"my_number": my_number, "ticket_number": ticket, "basic_code": ticket}
    )
    return ticket


def row(my_number: str, **fields: object) -> TransferInRow:
    given: dict[str, object] = {
        "my_number": my_number,
        "former_municipality": OTHER,
        "register_confirmed": True,
        "consent_reference": "CONSENT-2026-0001",
        "id_document": "my_number_card",
        "checked_by": "staff.madoguchi.01",
        "checked_at": datetime(2026, 11, 20, 1, tzinfo=UTC),
    }
    return TransferInRow.model_validate(given | fields)


def ids(line: int, what: str) -> object:
    return uuid4()


async def test_the_asker_asks_only_about_a_resident_its_register_holds_r04() -> None:
    recorder, book = Recorder(SystemId.VRS), MemoryVrsBook()
    ticket = await registered(book, RESIDENT)
    side = vrs(recorder, book)
    refused = await side.ask_former(
        [
            (2, row(RESIDENT)),  # asked, under the resident's own ticket
            (3, row(STRANGER)),  # "register confirmed", but nobody here has this number
            (4, row(RESIDENT, ticket_number="0000000001")),  # someone else's ticket
            (5, row(RESIDENT, register_confirmed=False)),
        ],
        ids,  # type: ignore[arg-type]
    )
    assert [(e.line, e.field) for e in refused] == [
        (3, "my_number"),
        (4, "ticket_number"),
        (5, "register_confirmed"),
    ]
    assert all(RESIDENT not in e.reason and STRANGER not in e.reason for e in refused)
    (inquiry,) = recorder.sent
    assert isinstance(inquiry, TransferInInquiry)
    assert inquiry.my_number.reveal() == RESIDENT
    asked = await book.transfer(inquiry.inquiry_id)
    assert asked is not None
    assert asked["ticket_number"] == ticket


def inquiry(**fields: object) -> TransferInInquiry:
    example = example_payload("transfer_in_inquiry")
    return TransferInInquiry.model_validate(example.model_dump() | fields)


async def test_the_former_city_refuses_an_inquiry_without_consent_or_id_check_r02() -> None:
    recorder, book = Recorder(SystemId.VRS), MemoryVrsBook()
    await registered(book, RESIDENT)
    side = vrs(recorder, book)
    side.consent_required = True  # the default: consent_not_required names no city
    cases = [
        (inquiry(my_number=RESIDENT, consent_reference=None), "no_consent"),
        (inquiry(my_number=RESIDENT, identity_check=None), "no_identity_check"),
    ]
    for asked, refusal in cases:
        effects = await handled(
            side.on_transfer_inquiry, delivered(asked, SystemId.VRS, OTHER, SystemId.VRS, city=CITY)
        )
        assert effects == ["transfer_out:refused"]
        answer = recorder.sent[-1]
        assert isinstance(answer, TransferOutProvision)
        assert (answer.status, answer.refusal, answer.doses) == ("refused", refusal, ())


async def test_the_former_city_answers_only_for_a_person_it_finds() -> None:
    recorder, book = Recorder(SystemId.VRS), MemoryVrsBook()
    await registered(book, RESIDENT)
    side = vrs(recorder, book)
    stranger = delivered(inquiry(my_number=STRANGER), SystemId.VRS, OTHER, SystemId.VRS, city=CITY)
    assert await handled(side.on_transfer_inquiry, stranger) == ["transfer_out:no_record"]
    answer = recorder.sent[-1]
    assert isinstance(answer, TransferOutProvision)
    assert answer.doses == ()


def provision(asked: TransferInInquiry, my_number: str, **fields: object) -> TransferOutProvision:
    example = example_payload("transfer_out_provision")
    return TransferOutProvision.model_validate(
        example.model_dump() | {"inquiry_id": asked.inquiry_id, "my_number": my_number} | fields
    )


async def test_the_asker_refuses_an_answer_that_holds_anyone_elses_records() -> None:
    recorder, book = Recorder(SystemId.VRS), MemoryVrsBook()
    ticket = await registered(book, RESIDENT)
    await registered(book, STRANGER)  # another resident of ours, who was not asked about
    side = vrs(recorder, book)
    assert await side.ask_former([(2, row(RESIDENT))], ids) == []  # type: ignore[arg-type]
    (asked,) = recorder.sent
    assert isinstance(asked, TransferInInquiry)

    def answer(payload: TransferOutProvision) -> object:
        return delivered(payload, SystemId.VRS, OTHER, SystemId.VRS, city=CITY)

    # The stranger's records, under the inquiry of our resident: refused, nothing kept.
    mismatch = answer(provision(asked, STRANGER))
    assert await handled(side.on_transfer_provision, mismatch) == ["refused:number_mismatch"]  # type: ignore[arg-type]
    assert await book.doses(ticket) == []
    assert [t for t in book.transfers.values() if t["state"] != "sent"] == []
    # A refusal is noted as the answer; the resident's own records are taken in.
    refused = provision(asked, RESIDENT, status="refused", refusal="no_consent", doses=())
    assert await handled(side.on_transfer_provision, answer(refused)) == [  # type: ignore[arg-type]
        "transfer_in:refused:no_consent"
    ]
    records = provision(asked, RESIDENT)
    effects = await handled(side.on_transfer_provision, answer(records))  # type: ignore[arg-type]
    assert effects == [f"transfer_in:provided:{len(records.doses)}"]
    assert len(await book.doses(ticket)) == len(records.doses)


def test_a_refusal_names_its_reason_and_carries_no_records() -> None:
    asked = inquiry()
    refused = provision(asked, RESIDENT, status="refused", refusal="no_identity_check", doses=())
    assert refused.refusal == "no_identity_check"
    for bad in (
        {"status": "refused", "doses": ()},  # no reason
        {"status": "no_record", "refusal": "no_consent", "doses": ()},  # a reason, no refusal
    ):
        with pytest.raises(ValueError, match="refusal must be given") as error:
            provision(asked, RESIDENT, **bad)
        assert RESIDENT not in str(error.value)
