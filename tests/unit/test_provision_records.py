"""The provider's 情報提供等記録 (R47, issue 15): it names the person by the agency's 符号
and the reply it sent, and says "rejected" or "withheld" once the hub tells it that reply
was rejected by a 所属長 or expired unapproved, instead of "provided"."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.intermediate.memory import MemoryIntermediateBook
from contracts.codes import SystemId, looks_like_my_number
from contracts.payloads import RejectionNotice
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
