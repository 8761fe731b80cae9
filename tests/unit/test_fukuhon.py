"""The 副本 store: format checks on registration (R45), content viewable, and the
reconciliation against the original (R46)."""

from __future__ import annotations

from datetime import date

import pytest

from adapters.intermediate.fukuhon import (
    MemoryFukuhon,
    Mismatch,
    format_problems,
    reconcile,
    reconciliation_csv,
)
from contracts.payloads import DoseHistoryItem, FukuhonRegistration

ITEM = "vaccination.history"


def dose(n: int, day: date, vaccine: str = "COVID19") -> DoseHistoryItem:
    return DoseHistoryItem.model_validate(
        {"vaccine_type": vaccine, "dose_number": n, "administered_on": day, "lot_number": "AB12"}
    )


def registration(
    person: str, *doses: DoseHistoryItem, operation: str = "upsert"
) -> FukuhonRegistration:
    return FukuhonRegistration.model_validate(
        {"person": person, "data_item": ITEM, "operation": operation, "history": doses}
    )


@pytest.mark.parametrize(
    ("registered", "problem"),
    [
        (registration("1", dose(1, date(2021, 6, 1)), dose(1, date(2021, 7, 1))), "repeats"),
        (registration("1", dose(1, date(2021, 6, 1)), operation="delete"), "delete carries"),
        (registration("1"), "needs at least one dose"),
        (
            FukuhonRegistration.model_validate(
                {"person": "1", "data_item": "tax.income", "history": [dose(1, date(2021, 6, 1))]}
            ),
            "not a 副本 item",
        ),
    ],
)
def test_format_problems_are_named(registered: FukuhonRegistration, problem: str) -> None:
    assert any(problem in p for p in format_problems(registered))


async def test_upsert_view_delete_and_reconcile() -> None:
    store = MemoryFukuhon()
    first, second = dose(1, date(2021, 6, 1)), dose(2, date(2021, 7, 1))
    assert format_problems(registration("100", second, first)) == []
    await store.apply(registration("100", second, first))
    await store.apply(registration("200", first))
    await store.apply(registration("300", first))
    assert await store.history("100", ITEM) == (first, second)  # viewable, in date order
    await store.apply(registration("300", operation="delete"))
    assert await store.history("300", ITEM) is None

    original = {"100": [first, second], "200": [first, second], "400": [first]}
    mismatches = reconcile(await store.everything(ITEM), original)
    assert mismatches == [
        Mismatch("200", "differs"),
        Mismatch("400", "only_in_original"),
    ]
    exported = reconciliation_csv(await store.everything(ITEM))
    assert exported.splitlines() == [
        "person,vaccine_type,dose_number,administered_on,lot_number",
        "100,COVID19,1,2021-06-01,AB12",
        "100,COVID19,2,2021-07-01,AB12",
        "200,COVID19,1,2021-06-01,AB12",
    ]
