"""The provider's 情報提供等記録 (R47, issue 15): it names the person by the agency's 符号
and the reply it sent, and says "rejected" or "withheld" once the hub tells it that reply
was rejected by a 所属長 or expired unapproved, instead of "provided"."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from adapters.intermediate.memory import MemoryIntermediateBook
from contracts.codes import SystemId, looks_like_my_number
from contracts.payloads import RejectionNotice
from hub.settings import AdaptersSettings
from hub.settings.fields import items_for
from tests.unit.test_adapter_events import OTHER, delivered, handled, provider_city


@pytest.mark.parametrize(
    ("reason_code", "outcome"),
    [("rejected_by_approver", "rejected"), ("approval_expired", "withheld")],
)
async def test_the_providers_record_says_what_became_of_its_reply(
    reason_code: str, outcome: str
) -> None:
    side = await provider_city()
    carried = delivered(side.inquiry, SystemId.NWS, OTHER, SystemId.INTERMEDIATE)
    assert await handled(side.server.on_inquiry, carried) == ["provision:provided"]
    (reply,) = side.recorder.published
    book = side.server.book
    assert isinstance(book, MemoryIntermediateBook)
    (record,) = await book.records()
    assert (record["outcome"], record["reply_id"]) == ("provided", reply.id)
    assert record["subject"] == str(side.inquiry.person)  # the 符号 the network gave us
    assert not looks_like_my_number(record["subject"])

    notice = RejectionNotice(
        rejected_message_id=reply.id,
        reason_code=reason_code,
        reason="the 所属長 decided",
        rejected_at=datetime.now(UTC),
    )
    from_hub = delivered(notice, SystemId.HUB, OTHER, SystemId.INTERMEDIATE)
    assert await handled(side.server.on_rejection, from_hub) == [f"record:{outcome}"]
    (record,) = await book.records()
    assert record["outcome"] == outcome


async def test_a_notice_about_anything_else_changes_no_record() -> None:
    side = await provider_city()
    notice = RejectionNotice(
        rejected_message_id=side.inquiry.inquiry_id,
        reason_code="not_on_list",
        reason="refused at the hub",
        rejected_at=datetime.now(UTC),
    )
    from_hub = delivered(notice, SystemId.HUB, OTHER, SystemId.INTERMEDIATE)
    assert await handled(side.server.on_rejection, from_hub) == ["rejection:not_on_list"]


async def test_a_provision_of_an_item_the_city_keeps_nondisclosed_is_flagged_in_its_record() -> (
    None
):
    side = await provider_city()
    server = replace(side.server, nondisclosed=frozenset({"vaccination.history"}))
    carried = delivered(side.inquiry, SystemId.NWS, OTHER, SystemId.INTERMEDIATE)
    assert await handled(server.on_inquiry, carried) == ["provision:provided"]
    book = server.book
    assert isinstance(book, MemoryIntermediateBook)
    (record,) = await book.records()
    assert record["nondisclosure"] is True
    assert await book.records_about(record["subject"], 10) == []  # not shown to the resident


@pytest.mark.parametrize(
    ("entries", "city", "items"),
    [
        (("vaccination.history",), "082279", {"vaccination.history"}),
        (("082074:vaccination.history", "vaccination.record"), "082279", {"vaccination.record"}),
        (("082074:vaccination.history",), "082074", {"vaccination.history"}),
    ],
)
def test_nondisclosed_items_apply_to_every_city_or_the_one_named(
    entries: tuple[str, ...], city: str, items: set[str]
) -> None:
    assert items_for(entries, city) == items


@pytest.mark.parametrize("entry", ["Vaccination History", "08207:vaccination.history", ":x.y"])
def test_a_bad_nondisclosed_item_is_refused_naming_the_setting(entry: str) -> None:
    with pytest.raises(ValidationError) as refused:
        AdaptersSettings(nondisclosed_items=(entry,))
    assert refused.value.errors()[0]["loc"][0] == "nondisclosed_items"
