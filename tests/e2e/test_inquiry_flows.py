"""F1, F3-F8 end to end: residents registered, doses recorded and their 副本 registered,
符号 acquired and registered with the network, and an inquiry from Chikusei to Yuki that
gets a permit, is answered from Yuki's 副本 sealed to Chikusei, waits for Yuki's 所属長,
and comes back opened to Chikusei's health-management system."""

from __future__ import annotations

import csv
import io

import pytest

from contracts.examples import example_payload
from contracts.payloads import VaccinationRecord
from tests.e2e.stack import Stack, records_csv, rows_csv
from tests.harness import CHIKUSEI, YUKI, Services, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]

RESIDENT_CODE = "40718293560"


def _dose() -> VaccinationRecord:
    record = example_payload("vaccination_record")
    assert isinstance(record, VaccinationRecord)
    return record


DOSE = _dose()
MOVED = {
    "resident_code": RESIDENT_CODE,
    "my_number": "123456789018",
    "name": "結城 花子",
    "birth_date": "1951-06-23",
    "sex": 2,
}
IN_YUKI = MOVED | {
    "person": "3001",
    "basic_code": "3001",
    "address": "茨城県結城市結城九丁目9番9号",
    "ticket_number": "0000300011",
    "ticket_issued_on": "2025-04-01",
}
IN_CHIKUSEI = MOVED | {
    "person": "5001",
    "basic_code": "5001",
    "address": "茨城県筑西市みどり町九丁目99番9号",
}


async def test_an_inquiry_crosses_the_network_waits_for_approval_and_comes_back_opened(
    stack: Stack, services: Services
) -> None:
    stack.drop(YUKI, "health_mgmt", "residents", "residents.csv", rows_csv([IN_YUKI]))
    stack.drop(CHIKUSEI, "health_mgmt", "residents", "residents.csv", rows_csv([IN_CHIKUSEI]))
    # F1 -> F5: both servers acquired a 符号 and the network knows both stand for one person.
    await wait_for(
        lambda: stack.exists(
            "nws", "SELECT 1 FROM nws.codes GROUP BY individual HAVING count(*) = 2"
        ),
        60,
        "both 符号 at the network",
    )
    codes = await stack.fetch("nws", "SELECT agency, code FROM nws.codes ORDER BY agency")
    assert {r["agency"] for r in codes} == {CHIKUSEI, YUKI}
    assert codes[0]["code"] != codes[1]["code"]
    # F3 -> F4: Yuki's doses; a row for nobody in the register is refused, the other kept.
    stack.drop(
        YUKI,
        "health_mgmt",
        "records",
        "batch.csv",
        records_csv([{"basic_code": "3001"}, {"basic_code": "999999"}]),
    )
    await wait_for(
        lambda: stack.exists(YUKI, "SELECT 1 FROM intermediate.fukuhon WHERE person = '3001'"),
        60,
        "Yuki's 副本",
    )
    result = stack.data_dir / YUKI / "health_mgmt" / "records" / "results" / "batch.result.csv"
    problems = list(csv.reader(io.StringIO(result.read_text())))
    assert ["3", "basic_code", "no such resident"] in problems
    assert "999999" not in result.read_text()

    # F6: Chikusei asks Yuki about its new resident.
    stack.drop(
        CHIKUSEI,
        "health_mgmt",
        "inquiries",
        "ask.csv",
        rows_csv([{"person": "5001", "provider": YUKI}]),
    )
    # F7: Yuki's reply is flagged 自動応答不可 (R37): it waits for Yuki's 所属長.
    await wait_for(stack.held, 60, "the reply held for approval")
    (held,) = await stack.approve(YUKI, "health-promotion", "ogawa")
    assert held["kind"] == "provision_response"
    # The hub, and so the approver, holds only ciphertext of the sealed reply (R43).
    (journaled,) = await stack.hub_rows(
        "SELECT canonical FROM journal WHERE kind = 'provision_response'"
    )
    assert str(DOSE.lot_number).encode() not in bytes(journaled["canonical"])
    await wait_for(
        lambda: _arrived(stack),
        60,
        "the inquiry result at Chikusei's health management",
    )
    (result_doc,) = stack.out(CHIKUSEI, "health_mgmt", "inquiry_result")
    assert result_doc["status"] == "provided"
    assert result_doc["person"] == "5001"
    assert [(d["dose_number"], d["lot_number"]) for d in result_doc["history"]] == [
        (DOSE.dose_number, DOSE.lot_number)
    ]
    (record,) = stack.out(CHIKUSEI, "health_mgmt", "provision_record")
    assert (record["inquirer"], record["provider"], record["role"]) == (CHIKUSEI, YUKI, "inquirer")
    # 情報提供等記録 on both sides (R47), the result kept until its deletion time (R42).
    asked = await stack.fetch(CHIKUSEI, "SELECT role, outcome FROM intermediate.provision_records")
    assert {(r["role"], r["outcome"]) for r in asked} == {("inquirer", "provided")}
    gave = await stack.fetch(YUKI, "SELECT role, outcome FROM intermediate.provision_records")
    assert {(r["role"], r["outcome"]) for r in gave} == {("provider", "provided")}
    (kept,) = await stack.fetch(CHIKUSEI, "SELECT state, delete_after FROM intermediate.inquiries")
    assert kept["state"] == "provided"
    assert kept["delete_after"] is not None
    # The hub journaled every hop, and never a My Number on the way to the network (R40).
    kinds = await stack.hub_rows("SELECT kind, decision FROM journal ORDER BY seq")
    hops = [(r["kind"], r["decision"]) for r in kinds]
    assert ("provision_permit", "deliver") in hops
    assert ("provision_response", "hold") in hops
    assert all(d != "reject" for _, d in hops), hops


async def _arrived(stack: Stack) -> bool:
    return bool(stack.out(CHIKUSEI, "health_mgmt", "inquiry_result"))
