"""F1, F2, F11-F16 end to end: residents become VRS targets with their tickets and get a
notice on the portal; a dose read at the site reaches health management and comes back in
the export without any My Number; a moved-out flag; a transfer-in from Chikusei to Yuki
and back, refused without the register check (R04) or the consent (R02)."""

from __future__ import annotations

import csv
import functools
import io
from pathlib import Path

import pytest

from contracts.codes import looks_like_my_number
from contracts.examples import example_payload
from tests.e2e.stack import Stack, rows_csv
from tests.harness import CHIKUSEI, YUKI, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]

MY_NUMBER = "123456789018"
PERSON = {
    "resident_code": "40718293560",
    "my_number": MY_NUMBER,
    "name": "結城 花子",
    "birth_date": "1951-06-23",
    "sex": 2,
}
IN_YUKI = PERSON | {
    "person": "3001",
    "basic_code": "3001",
    "address": "茨城県結城市結城九丁目9番9号",
    "ticket_number": "0000300011",
    "ticket_issued_on": "2025-04-01",
}
IN_CHIKUSEI = PERSON | {
    "person": "5001",
    "basic_code": "5001",
    "address": "茨城県筑西市みどり町九丁目99番9号",
    "ticket_number": "0000500017",
    "ticket_issued_on": "2025-11-20",
}
SITE = example_payload("dose_record").model_dump(mode="json")


def dose_row(ticket: str, number: int) -> dict[str, object]:
    return {k: v for k, v in SITE.items() if k not in ("kind", "ticket_ocr")} | {
        "ticket_number": ticket,
        "dose_number": number,
    }


def transfer_row(**changes: object) -> dict[str, object]:
    return {
        "my_number": MY_NUMBER,
        "former_municipality": YUKI,
        "register_confirmed": "true",
        "consent_reference": "CONSENT-2026-0001",
        "id_document": "my_number_card",
        "checked_by": "staff.madoguchi.01",
        "checked_at": "2026-11-20T01:00:00Z",
    } | changes


async def test_targets_doses_export_and_flags_in_one_city(stack: Stack) -> None:
    stack.drop(YUKI, "health_mgmt", "residents", "residents.csv", rows_csv([IN_YUKI]))
    # F1 -> F11: the resident with a ticket is a VRS target, My Number kept for F15.
    await wait_for(
        lambda: stack.exists(YUKI, "SELECT 1 FROM vrs.targets WHERE ticket_number = '0000300011'"),
        60,
        "the VRS target",
    )
    (target,) = await stack.fetch(YUKI, "SELECT basic_code, my_number, status FROM vrs.targets")
    assert (target["basic_code"], target["my_number"], target["status"]) == (
        "3001",
        MY_NUMBER,
        "active",
    )
    # F2: the vaccination notice reaches the portal under Yuki's 符号, never a number.
    await wait_for(lambda: _portal(stack, YUKI), 60, "the notice on the portal")
    (notice,) = [p.read_text() for p in (stack.data_dir / "nws" / "portal" / YUKI).iterdir()]
    assert '"vaccination_due"' in notice
    assert "3001" not in notice
    assert MY_NUMBER not in notice

    # F12: the site reads the ticket; an unknown ticket is refused without being quoted.
    stack.drop(
        YUKI,
        "vrs",
        "doses",
        "site.csv",
        rows_csv([dose_row("0000300011", 1), dose_row("0000999999", 1)]),
    )
    await wait_for(lambda: _kept(stack, YUKI, "dose_record"), 60, "the dose at health management")
    (reported,) = stack.out(YUKI, "health_mgmt", "dose_record")
    assert (reported["ticket_number"], reported["dose_number"]) == ("0000300011", 1)
    result = (stack.data_dir / YUKI / "vrs" / "doses" / "results" / "site.result.csv").read_text()
    assert ["3", "ticket_number", "no such ticket in this city"] in list(
        csv.reader(io.StringIO(result))
    )
    assert "0000999999" not in result
    # F13: the export arrives as Shift_JIS CSV, and no cell passes the My Number check (R22).
    export_dir = stack.data_dir / YUKI / "health_mgmt" / "out" / "vaccination_export"
    await wait_for(lambda: _has_csv(export_dir), 60, "the VRS export")
    (export,) = list(export_dir.glob("*.csv"))
    rows = list(csv.reader(io.StringIO(export.read_bytes().decode("cp932"))))
    assert rows[1][:3] == ["3001", "0000300011", "1"]
    assert not [cell for row in rows for cell in row if looks_like_my_number(cell)]

    # F16: the address system reports the move; VRS flags the target.
    moved = IN_YUKI | {"status": "moved_out", "status_on": "2026-11-15"}
    stack.drop(YUKI, "health_mgmt", "residents", "moved.csv", rows_csv([moved]))
    await wait_for(
        lambda: stack.exists(YUKI, "SELECT 1 FROM vrs.targets WHERE status = 'moved_out'"),
        60,
        "the moved-out flag",
    )
    hops = await stack.hub_rows("SELECT kind, decision FROM journal ORDER BY seq")
    kinds = {r["kind"] for r in hops if r["decision"] == "deliver"}
    assert {"target_registration", "dose_record", "vaccination_export"} <= kinds
    assert "resident_status_flag" in kinds


async def test_transfer_in_crosses_to_the_former_city_and_back(stack: Stack) -> None:
    stack.drop(YUKI, "health_mgmt", "residents", "residents.csv", rows_csv([IN_YUKI]))
    stack.drop(CHIKUSEI, "health_mgmt", "residents", "residents.csv", rows_csv([IN_CHIKUSEI]))
    for city in (YUKI, CHIKUSEI):
        await wait_for(functools.partial(_has_target, stack, city), 60, f"the target in {city}")
    stack.drop(
        YUKI,
        "vrs",
        "doses",
        "site.csv",
        rows_csv([dose_row("0000300011", 1), dose_row("0000300011", 2)]),
    )
    await wait_for(
        lambda: stack.exists(
            YUKI, "SELECT 1 FROM vrs.doses GROUP BY ticket_number HAVING count(*) = 2"
        ),
        60,
        "Yuki's two doses",
    )
    # F14 with its controls: no register check (R04), no consent (R02) are refused.
    stack.drop(
        CHIKUSEI,
        "vrs",
        "transfer_in",
        "ask.csv",
        rows_csv(
            [
                transfer_row(ticket_number="0000500017"),
                transfer_row(register_confirmed="false"),
                transfer_row(consent_reference=""),
            ]
        ),
    )
    # F15: Yuki's records for the number are flagged 自動応答不可 in this policy: a 所属長
    # of Yuki's covid-vaccination section approves them first (R37).
    await wait_for(stack.held, 60, "Yuki's provision held")
    (held,) = await stack.approve(YUKI, "covid-vaccination", "kacho.yuki")
    assert held["kind"] == "transfer_out_provision"
    await wait_for(
        lambda: stack.exists(
            CHIKUSEI,
            "SELECT 1 FROM vrs.doses WHERE source = 'transfer_in'"
            " GROUP BY ticket_number HAVING count(*) = 2",
        ),
        60,
        "the former city's doses at Chikusei",
    )
    result = (
        stack.data_dir / CHIKUSEI / "vrs" / "transfer_in" / "results" / "ask.result.csv"
    ).read_text()
    lines = list(csv.reader(io.StringIO(result)))
    assert [
        "3",
        "register_confirmed",
        "confirm the My Number in the resident register first (R04)",
    ] in lines
    assert ["4", "consent_reference", "this city asks for the resident's consent (R02)"] in lines
    assert MY_NUMBER not in result
    (asked,) = await stack.fetch(CHIKUSEI, "SELECT state, doses FROM vrs.transfer_inquiries")
    assert (asked["state"], asked["doses"]) == ("provided", 2)
    # Both hops crossed the municipalities through the hub (the only kinds allowed to).
    hops = await stack.hub_rows(
        "SELECT kind, municipality, recipient_municipality, decision FROM journal"
        " WHERE kind LIKE 'transfer%' ORDER BY seq"
    )
    assert [(r["kind"], r["decision"]) for r in hops] == [
        ("transfer_in_inquiry", "deliver"),
        ("transfer_out_provision", "hold"),
    ]


async def _has_target(stack: Stack, city: str) -> bool:
    return await stack.exists(city, "SELECT 1 FROM vrs.targets")


async def _portal(stack: Stack, city: str) -> bool:
    folder = stack.data_dir / "nws" / "portal" / city
    return folder.is_dir() and any(folder.iterdir())


async def _kept(stack: Stack, city: str, kind: str) -> bool:
    return bool(stack.out(city, "health_mgmt", kind))


async def _has_csv(folder: Path) -> bool:
    return any(folder.glob("*.csv")) if folder.is_dir() else False  # noqa: ASYNC240 - a poll
