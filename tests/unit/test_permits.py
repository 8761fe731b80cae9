"""The network's permits (R30) and the provider's checks of them (R35, R36)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from adapters.kit.permits import NetworkList, PermitRefused, check_permit, issue_permit
from contracts.examples import example_payload
from contracts.payloads import InquiryRequest, PermittedListRow, PermittedListUpdate

NOW = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
ROWS = (
    PermittedListRow(
        procedure="B2-115-2",
        data_item="vaccination.history",
        direction="inquiry",
        effective_from=date(2016, 1, 1),
        retention_days=2555,
    ),
    PermittedListRow(
        procedure="B2-16-2",
        inquirer="082279",
        data_item="vaccination.history",
        direction="both",
        effective_from=date(2016, 1, 1),
        effective_to=date(2020, 3, 31),
        retention_days=30,
    ),
)
ITEMS = ["vaccination.history"]
LIST = NetworkList.from_update(PermittedListUpdate(list_version="0a1b2c3d", rows=ROWS))


def inquiry() -> InquiryRequest:
    example = example_payload("inquiry_request")
    assert isinstance(example, InquiryRequest)
    return example


def test_a_listed_inquiry_gets_a_permit_with_the_route() -> None:
    permit = issue_permit(
        LIST, inquiry(), procedure="B2-115-2", data_items=["vaccination.history"], now=NOW
    )
    assert permit.inquiry_id == inquiry().inquiry_id
    assert (permit.inquirer, permit.provider) == (inquiry().inquirer, inquiry().provider)
    assert permit.list_version == "0a1b2c3d"
    assert permit.expires_at - permit.issued_at == timedelta(minutes=10)
    assert [s.value for s in permit.route] == ["intermediate", "nws", "intermediate"]


@pytest.mark.parametrize(
    ("procedure", "item", "code"),
    [
        ("B2-115-2", "tax.income", "not_on_list"),
        ("B2-1", "vaccination.history", "not_on_list"),
        ("B2-16-2", "vaccination.history", "outside_validity"),
    ],
)
def test_an_unlisted_or_expired_row_gets_no_permit(procedure: str, item: str, code: str) -> None:
    with pytest.raises(PermitRefused) as caught:
        issue_permit(LIST, inquiry(), procedure=procedure, data_items=[item], now=NOW)
    assert caught.value.code == code


def test_the_provider_answers_only_on_a_matching_live_permit() -> None:
    permit = issue_permit(
        LIST, inquiry(), procedure="B2-115-2", data_items=["vaccination.history"], now=NOW
    )
    asked = inquiry().model_copy(update={"permit_id": permit.permit_id})
    check_permit(
        permit, asked, LIST, now=NOW + timedelta(minutes=1), procedure="B2-115-2", data_items=ITEMS
    )
    cases = [
        (permit, inquiry(), NOW, "permit_mismatch"),  # the inquiry names no permit
        (permit.model_copy(update={"provider": "131016"}), asked, NOW, "permit_mismatch"),
        (permit, asked, NOW + timedelta(minutes=10), "permit_expired"),
    ]
    for given, request, when, code in cases:
        with pytest.raises(PermitRefused) as caught:
            check_permit(given, request, LIST, now=when, procedure="B2-115-2", data_items=ITEMS)
        assert caught.value.code == code
    emptied = NetworkList("0a1b2c3e", ROWS[1:])  # the local copy no longer lists it (R35)
    with pytest.raises(PermitRefused, match="not_on_list"):
        check_permit(permit, asked, emptied, now=NOW, procedure="B2-115-2", data_items=ITEMS)
