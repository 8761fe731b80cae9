"""One end-to-end test per flow of the source document (domain.md section 2, F1-F20).

The hub, the network and both cities' adapters run as processes against the real RabbitMQ
and PostgreSQL (`tests/e2e/stack.py`); the tests drive them through their edges (request
folders, the certificate center's HTTP API, the desk) and check what arrives, what the hub
journaled and audited, and, where a control applies, that the forbidden variant is
refused. Each test uses residents of its own.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import functools
import io
import json
import ssl
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapters.kiosk.simulator import CardAuthority, CardLocked, MyNumberCard, WrongPin
from adapters.kit.shc import from_qr_text, verify
from adapters.store.sealed import TARGETS
from contracts.broker import DEAD_QUEUE, INGRESS_EXCHANGE
from contracts.codes import SystemId, looks_like_my_number
from contracts.envelope import Declaration, Envelope, Party, Recipient, new_message_id
from contracts.examples import PERSONAL_VALUES, example_payload
from contracts.keys import KeyRing
from contracts.payloads import (
    CertificateApplication,
    DoseHistoryItem,
    FukuhonRegistration,
    InquiryRequest,
    ProvisionPermit,
    ProvisionResponse,
    ReviewCopy,
    ReviewSubject,
    TargetPerson,
    TargetRegistration,
    VaccinationRecord,
)
from contracts.sealing import addressed, sealed_review
from hub.approvals import Role
from hub.desk import HeldRow, NotAuthenticated, Terminal, open_desk
from hub.desk.access import RosterEntry
from hub.settings import AdaptersSettings
from stack.keys import CARD_AUTHORITY_PARTY, SHC_ISSUER_PARTY, card_authority, keys_for, shc_issuer
from stack.network_list import network_list
from stack.provision import TLS_CA
from stack.rosters import COUNTER_CLERK, HEALTH_CLERK
from stack.terminals import APP_TERMINAL, COUNTER_TERMINAL, KIOSK_TERMINAL
from tests.e2e.people import MADE, dose_row, identifying_values, person, record_row
from tests.e2e.stack import CITIES, Stack, kiosk_url, records_csv, rows_csv
from tests.harness import CHIKUSEI, PASSWORD, YUKI
from tests.operations import EXTERNAL_METRICS, queried_metrics, scraped_metrics
from tests.probes import drain_queue, pg_dump, wait_for
from tests.scrape import desk_metrics, label_problems, promtool_problems, scrape

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(240),
    pytest.mark.asyncio(loop_scope="module"),
]
IMS, IS, NWS, VRS, KIOSK = (
    SystemId.HEALTH_MGMT,
    SystemId.INTERMEDIATE,
    SystemId.NWS,
    SystemId.VRS,
    SystemId.KIOSK,
)
WAIT = 60


def _record() -> VaccinationRecord:
    record = example_payload("vaccination_record")
    assert isinstance(record, VaccinationRecord)
    return record


RECORD = _record()
CODE_OF_PERSON = "SELECT code FROM intermediate.linkage_codes WHERE person = $1"


def until(check: Callable[[], Awaitable[bool]], what: str) -> Awaitable[None]:
    return wait_for(check, WAIT, what)


async def register(stack: Stack, city: str, *people: dict[str, Any]) -> None:
    """F1 for `people`, waiting until each is in the register and, with a ticket, in VRS."""
    stack.drop(city, "health_mgmt", "residents", f"{uuid.uuid4()}.csv", rows_csv(list(people)))
    for resident in people:
        if resident.get("ticket_number"):
            sql, key = "SELECT 1 FROM vrs.targets WHERE basic_code = $1", resident["basic_code"]
        else:
            sql, key = "SELECT 1 FROM ims.residents WHERE person = $1", resident["person"]
        await until(functools.partial(stack.exists, city, sql, key), f"resident {key} registered")


async def record_doses(stack: Stack, city: str, ticket: str, *numbers: int) -> None:
    """F12 for one ticket, waiting until VRS holds the doses."""
    stack.drop(
        city,
        "vrs",
        "doses",
        f"{uuid.uuid4()}.csv",
        rows_csv([dose_row(ticket, n) for n in numbers]),
    )
    await until(
        lambda: _count(
            stack,
            city,
            "SELECT count(*) FROM vrs.doses WHERE ticket_number = $1",
            ticket,
            len(numbers),
        ),
        f"{len(numbers)} dose(s) on ticket {ticket}",
    )


async def _count(stack: Stack, owner: str, sql: str, arg: object, expected: int) -> bool:
    rows = await stack.fetch(owner, sql, arg)
    return bool(rows) and rows[0][0] >= expected


def result_lines(stack: Stack, city: str, system: str, folder: str, name: str) -> list[list[str]]:
    path = stack.data_dir / city / system / folder / "results" / f"{Path(name).stem}.result.csv"
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))


async def journal(stack: Stack, kind: str) -> list[tuple[str, str | None]]:
    rows = await stack.hub_rows(
        "SELECT decision, reason_code FROM journal WHERE kind = $1 ORDER BY seq", kind
    )
    return [(r["decision"], r["reason_code"]) for r in rows]


async def audit(stack: Stack, action: str) -> list[dict[str, Any]]:
    rows = await stack.hub_rows(
        "SELECT actor, action, subject, terminal, detail FROM audit_log WHERE action = $1"
        " ORDER BY seq",
        action,
    )
    return [dict(r) for r in rows]


# --- F1-F5: residents, records, 副本, 符号 --------------------------------------------------


async def test_f01_residents_from_the_address_system_become_targets(stack: Stack) -> None:
    good = person(CHIKUSEI)
    bad = person(CHIKUSEI, my_number="123456789012")  # wrong check digit
    name = f"{uuid.uuid4()}.csv"
    clash = person(CHIKUSEI, basic_code=good["basic_code"])  # another's basic code
    stack.drop(CHIKUSEI, "health_mgmt", "residents", name, rows_csv([good, bad, clash]))
    await until(
        lambda: stack.exists(
            CHIKUSEI, "SELECT 1 FROM vrs.targets WHERE basic_code = $1", good["basic_code"]
        ),
        "the target",
    )
    (target,) = await stack.opened(
        CHIKUSEI, TARGETS, "SELECT * FROM vrs.targets WHERE basic_code = $1", good["basic_code"]
    )
    assert (target["my_number"], target["ticket_number"]) == (
        good["my_number"],
        good["ticket_number"],
    )
    lines = result_lines(stack, CHIKUSEI, "health_mgmt", "residents", name)
    assert [line[:2] for line in lines[4:]] == [["3", "my_number"], ["4", "row"]]
    assert lines[5][2] == "conflicts with residents_basic_code_key"
    assert bad["my_number"] not in str(lines)
    assert not await stack.exists(
        CHIKUSEI, "SELECT 1 FROM ims.residents WHERE person = $1", bad["person"]
    )
    assert ("deliver", None) in await journal(stack, "target_registration")


async def test_f02_notices_are_printed_and_reach_the_portal_under_the_code(stack: Stack) -> None:
    resident = person(YUKI)
    name = f"{uuid.uuid4()}.csv"
    stack.drop(YUKI, "health_mgmt", "residents", name, rows_csv([resident]))
    printed = stack.data_dir / YUKI / "health_mgmt" / "out" / "print" / name
    await until(lambda: _exists(printed), "the print run")
    text = printed.read_bytes().decode("cp932")
    assert resident["name"] in text
    assert resident["ticket_number"] in text
    code = await _code(stack, YUKI, resident["resident_code"])
    notice = await _portal_notice(stack, YUKI, code, "vaccination_due")
    assert resident["person"] not in json.dumps(notice)
    assert resident["my_number"] not in json.dumps(notice)
    decisions = await journal(stack, "resident_notice")
    assert decisions.count(("deliver", None)) >= 2  # health management -> server -> network


async def test_f03_returned_forms_become_records_and_bad_rows_are_reported(stack: Stack) -> None:
    resident = person(CHIKUSEI)
    await register(stack, CHIKUSEI, resident)
    name = f"{uuid.uuid4()}.csv"
    stack.drop(
        CHIKUSEI,
        "health_mgmt",
        "records",
        name,
        records_csv(
            [
                record_row(resident["basic_code"]),
                record_row("999999"),
                record_row(resident["basic_code"], administered_on="2099-01-01"),
            ]
        ),
    )
    await until(
        lambda: stack.exists(
            CHIKUSEI, "SELECT 1 FROM intermediate.fukuhon WHERE person = $1", resident["person"]
        ),
        "the 副本",
    )
    lines = result_lines(stack, CHIKUSEI, "health_mgmt", "records", name)
    fields = {(line[0], line[1]) for line in lines[5:]}
    assert ("3", "basic_code") in fields
    assert "4" in {line[0] for line in lines[5:]}
    (held,) = await stack.fetch(
        CHIKUSEI, "SELECT dose_number FROM ims.doses WHERE person = $1", resident["person"]
    )
    assert held["dose_number"] == RECORD.dose_number


async def test_f04_fukuhon_registration_is_format_checked(stack: Stack) -> None:
    resident = person(CHIKUSEI)
    await register(stack, CHIKUSEI, resident)
    dose = DoseHistoryItem(vaccine_type="COVID19", dose_number=1, administered_on=date(2024, 10, 1))
    good = FukuhonRegistration(
        person=resident["person"], data_item="vaccination.history", history=(dose,)
    )
    repeated = good.model_copy(update={"history": (dose, dose)})
    wrong_item = good.model_copy(update={"data_item": "vaccination.record"})
    sent = []
    for payload in (good, repeated, wrong_item):
        sent.append(
            await stack.send_as(
                (IMS, CHIKUSEI),
                payload,
                to=(IS, CHIKUSEI),
                procedure="B2-115-2",
                data_item="vaccination.history",
            )
        )
    await until(
        lambda: _effects_at_least(stack, CHIKUSEI, "adapter.intermediate.082279", sent),
        "the server's answers",
    )
    effects = await _effects_of(stack, CHIKUSEI, "adapter.intermediate.082279", sent)
    assert effects[0] == "fukuhon:upsert"
    assert effects[1].startswith("refused:history[1]: dose 1 of COVID19 repeats")  # R45
    assert effects[2].startswith("refused:data_item")
    (stored,) = await stack.fetch(
        CHIKUSEI, "SELECT history FROM intermediate.fukuhon WHERE person = $1", resident["person"]
    )
    assert len(json.loads(stored["history"])) == 1
    # R46: the 副本 sent without a record behind it shows in the reconciliation.
    done = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "hub",
            "stack",
            "reconcile",
            CHIKUSEI,
            "--out",
            str(stack.root / "r46"),
        ],
        # Run by health management's operator: its data key opens the original (R46).
        env=stack.env() | {"SESSHU_ADAPTERS__KEY_DIR": str(stack.key_dir(IMS, CHIKUSEI))},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    (report,) = (stack.root / "r46").glob("mismatches-*.csv")
    assert f"{resident['person']},only_in_fukuhon" in report.read_text().splitlines()


async def test_f05_each_server_acquires_its_own_code_and_the_network_links_them(
    stack: Stack,
) -> None:
    moved = person(YUKI)
    await register(stack, YUKI, moved)
    await register(
        stack,
        CHIKUSEI,
        person(CHIKUSEI, resident_code=moved["resident_code"], my_number=moved["my_number"]),
    )
    theirs = await _code(stack, YUKI, moved["resident_code"])
    ours = await _code(stack, CHIKUSEI, moved["resident_code"])
    assert theirs != ours
    for code in (theirs, ours):
        assert moved["my_number"] not in code
        assert moved["person"] not in code
    (converted,) = await stack.fetch(
        "nws",
        "SELECT t.code FROM nws.codes o JOIN nws.codes t ON t.individual = o.individual"
        " WHERE o.agency = $1 AND o.code = $2 AND t.agency = $3",
        CHIKUSEI,
        ours,
        YUKI,
    )
    assert converted["code"] == theirs
    columns = await stack.fetch("nws", "SELECT individual FROM nws.codes")
    assert all(moved["resident_code"].encode() not in bytes(r["individual"]) for r in columns)
    assert ("deliver", None) in await journal(stack, "linkage_registration")
    # Sealed to the network: the hub's journal holds no 住民票コード.
    bodies = await stack.hub_rows(
        "SELECT canonical FROM journal WHERE kind = 'linkage_registration'"
    )
    assert not [b for b in bodies if moved["resident_code"].encode() in bytes(b["canonical"])]


# --- F6-F10: the network ---------------------------------------------------------------------


async def _inquiry(stack: Stack, reject: str | None = None) -> tuple[dict[str, Any], HeldRow, str]:
    """A resident of Yuki with a dose, who moved to Chikusei; Chikusei asks Yuki (F6), and
    Yuki's 所属長 approves the reply (or rejects it, with `reject`)."""
    here, _, name = await _asked(stack)
    (held,) = await stack.approve(
        YUKI, "health-promotion", f"kacho.{uuid.uuid4().hex[:6]}", reject=reject
    )
    return here, held, name


async def _inquiry_held(stack: Stack) -> tuple[dict[str, Any], str]:
    """As `_inquiry`, the reply left held: the resident asked about and the reply's id."""
    here, held_id, _ = await _asked(stack)
    return here, held_id


async def _asked(stack: Stack) -> tuple[dict[str, Any], str, str]:
    """A resident of Yuki with a dose, who moved to Chikusei; Chikusei asks Yuki (F6) and
    the reply waits for Yuki's 所属長: (the resident here, the held reply's id, the file)."""
    there = person(YUKI)
    await register(stack, YUKI, there)
    here = person(CHIKUSEI, resident_code=there["resident_code"], my_number=there["my_number"])
    await register(stack, CHIKUSEI, here)
    stack.drop(
        YUKI,
        "health_mgmt",
        "records",
        f"{uuid.uuid4()}.csv",
        records_csv([record_row(there["basic_code"])]),
    )
    await until(
        lambda: stack.exists(
            YUKI, "SELECT 1 FROM intermediate.fukuhon WHERE person = $1", there["person"]
        ),
        "Yuki's 副本",
    )
    await until(lambda: _coded(stack, here["resident_code"]), "both codes at the network")
    name = f"{uuid.uuid4()}.csv"
    stack.drop(
        CHIKUSEI,
        "health_mgmt",
        "inquiries",
        name,
        rows_csv([{"person": here["person"], "provider": YUKI}]),
    )
    await until(stack.held, "the reply held for Yuki's 所属長")
    (row,) = await stack.hub_rows("SELECT message_id FROM held_messages WHERE state = 'held'")
    return here, str(row["message_id"]), name


async def test_f06_an_inquiry_gets_a_permit_and_its_result_comes_back(stack: Stack) -> None:
    here, held, _ = await _inquiry(stack)
    await until(
        lambda: _has_result(stack, here["person"]), "the result at Chikusei's health management"
    )
    result = await _result_for(stack, here["person"])
    assert result is not None
    assert result["status"] == "provided"
    assert [d["dose_number"] for d in result["history"]] == [1]
    (kept,) = await stack.fetch(
        CHIKUSEI,
        "SELECT state, delete_after FROM intermediate.inquiries WHERE person = $1",
        here["person"],
    )
    assert kept["state"] == "provided"
    assert kept["delete_after"] > datetime.now(UTC)
    records = [
        r
        for r in stack.out(CHIKUSEI, "health_mgmt", "provision_record")
        if r["inquiry_id"] == result["inquiry_id"]
    ]
    assert [(r["role"], r["provider"]) for r in records] == [("inquirer", YUKI)]  # R47
    # R16: the clerk who dropped the inquiry is its envelope's sender.operator, carried
    # through the hub into Chikusei's 情報提供等記録.
    (kept_record,) = await stack.fetch(
        CHIKUSEI,
        "SELECT operator FROM intermediate.provision_records WHERE role = 'inquirer'"
        " AND inquiry_id = $1",
        uuid.UUID(str(result["inquiry_id"])),
    )
    assert kept_record["operator"] == HEALTH_CLERK.operator
    assert ("deliver", None) in await journal(stack, "provision_permit")
    approvals = [a for a in await audit(stack, "held.approved") if a["subject"] == held.message_id]
    assert len(approvals) == 1
    # Forbidden: an item the list does not permit is refused at the hub.
    refused = await stack.send_as(
        (IMS, CHIKUSEI),
        InquiryRequest(
            inquiry_id=uuid.uuid4(), inquirer=CHIKUSEI, provider=YUKI, person=here["person"]
        ),
        to=(IS, CHIKUSEI),
        procedure="B2-115-2",
        data_item="vaccination.record",
    )
    await until(lambda: _decided(stack, refused.id), "the hub's decision")
    assert await stack.decision(refused.id) == ("reject", "not_on_list")


async def test_f07_the_provider_answers_sealed_and_refuses_a_permit_it_never_saw(
    stack: Stack,
) -> None:
    here, held, _ = await _inquiry(stack)
    await until(lambda: _has_result(stack, here["person"]), "the result")
    # The reply crossed the hub sealed: the journal holds ciphertext only. The 所属長
    # read its review copy, and the inquirer took it because it has the approved digest.
    (body,) = await stack.hub_rows(
        "SELECT canonical FROM journal WHERE message_id = $1", uuid.UUID(held.message_id)
    )
    assert b'"kind":"sealed"' in bytes(body["canonical"])
    assert str(RECORD.lot_number).encode() not in bytes(body["canonical"])
    viewed = [a for a in await audit(stack, "held.viewed") if a["subject"] == held.message_id]
    assert [json.loads(a["detail"]) for a in viewed] == [{"content": True}]
    assert await _at_inquirer(stack, held.message_id) == {
        "approval_attestation": "attestation:kept",
        "provision_response": "result:provided",
    }
    provided = await stack.fetch(
        YUKI, "SELECT outcome FROM intermediate.provision_records WHERE role = 'provider'"
    )
    assert "provided" in {r["outcome"] for r in provided}  # R47, provider side
    assert ("deliver", None) in await journal(stack, "approval_attestation")
    # Forbidden: an inquiry whose permit the network never issued (R36).
    code = await _code(stack, YUKI, here["resident_code"])
    forged = await stack.send_as(
        (NWS, None),
        InquiryRequest(
            inquiry_id=uuid.uuid4(),
            inquirer=CHIKUSEI,
            provider=YUKI,
            person=code,
            permit_id=uuid.uuid4(),
        ),
        to=(IS, YUKI),
        procedure="B2-115-2",
        data_item="vaccination.history",
        sent_at=datetime.now(UTC) - timedelta(minutes=2),
    )
    await until(
        lambda: _effects_at_least(stack, YUKI, "adapter.intermediate.082074", [forged]),
        "the refusal",
    )
    assert await _effects_of(stack, YUKI, "adapter.intermediate.082074", [forged]) == [
        "refused:permit_unknown"
    ]


async def test_f07_a_provider_that_seals_other_content_than_it_showed_is_refused(
    stack: Stack,
) -> None:
    # A provider (here, a forgery signed with Yuki's server key) shows its 所属長 one
    # thing in the review copy and seals another to the inquirer: the 所属長 approves what
    # they saw, and the inquirer, on opening the reply, finds another digest and refuses it.
    here, genuine = await _inquiry_held(stack)
    original = Envelope.model_validate_json(
        bytes(
            (
                await stack.hub_rows(
                    "SELECT canonical FROM journal WHERE message_id = $1", uuid.UUID(genuine)
                )
            )[0]["canonical"]
        )
    )
    (permit_row,) = await stack.hub_rows(
        "SELECT canonical FROM journal WHERE kind = 'provision_permit' AND correlation_id = $1"
        " AND recipient_municipality = $2",
        original.correlation_id,
        YUKI,
    )
    permit = Envelope.model_validate_json(bytes(permit_row["canonical"])).payload
    assert isinstance(permit, ProvisionPermit)
    shown = ProvisionResponse(
        inquiry_id=permit.inquiry_id, permit_id=permit.permit_id, status="no_data"
    )
    sealed = shown.model_copy(
        update={
            "status": "provided",
            "history": (
                DoseHistoryItem(
                    vaccine_type="COVID19", dose_number=9, administered_on=date(2024, 1, 9)
                ),
            ),
        }
    )
    forged = _provider_reply(stack, original, sealed=sealed, shown=shown)
    await stack.publish_signed(forged)
    await until(lambda: _is_held(stack, forged.id), "the forged reply held")
    (approved,) = await stack.approve(
        YUKI, "health-promotion", f"kacho.{uuid.uuid4().hex[:6]}", only=str(forged.id)
    )
    assert approved.message_id == str(forged.id)

    async def refused() -> bool:
        effects = await _at_inquirer(stack, forged.id)
        return effects.get("provision_response") == "refused:digest_mismatch"

    await until(refused, "the inquirer's refusal")
    await until(lambda: _has_result(stack, here["person"]), "the refused result")
    result = await _result_for(stack, here["person"])
    assert result is not None
    assert (result["status"], result["history"]) == ("refused", [])
    # The genuine reply, still held, is rejected so that it does not wait on.
    await stack.approve(YUKI, "health-promotion", f"kacho.{uuid.uuid4().hex[:6]}", reject="重複")


def _provider_reply(
    stack: Stack, original: Envelope, *, sealed: ProvisionResponse, shown: ProvisionResponse
) -> Envelope:
    """A reply like `original` (the provider's), sealing `sealed` to the inquirer but
    showing `shown` in its review copy, signed with the provider server's key."""
    ring = KeyRing.load(stack.services.ring_dir)
    signer = keys_for(ring, stack.key_dir(IS, YUKI), IS, YUKI).signer
    message_id = new_message_id()
    payload, declared = addressed(sealed, ring, IS, CHIKUSEI, envelope_id=message_id)
    review = ReviewCopy(
        inquirer=CHIKUSEI,
        inquirer_system=IS,
        subject=ReviewSubject(),
        provision=shown,
    )
    return signer.sign(
        Envelope.new(
            payload=payload,
            declared=declared,
            review=sealed_review(review, ring, YUKI, envelope_id=message_id),
            kind="provision_response",
            message_id=message_id,
            municipality=YUKI,
            sender=Party(system=IS, instance="is-forged"),
            recipient=Recipient(system=NWS, municipality=YUKI),
            procedure=original.procedure,
            data_items=original.data_items,
            key_id=signer.key_id,
            correlation_id=original.correlation_id,
            causation_id=original.causation_id,
        )
    )


async def _is_held(stack: Stack, message_id: object) -> bool:
    rows = await stack.hub_rows(
        "SELECT 1 FROM held_messages WHERE message_id = $1 AND state = 'held'", message_id
    )
    return bool(rows)


async def test_f07_a_rejected_reply_ends_the_inquiry_as_withheld(stack: Stack) -> None:
    here, held, _ = await _inquiry(stack, reject="提供対象外のため提供しない")
    await until(lambda: _has_result(stack, here["person"]), "the interrupted result")
    result = await _result_for(stack, here["person"])
    assert result is not None
    assert (result["status"], result["history"]) == ("withheld", [])
    (kept,) = await stack.fetch(
        CHIKUSEI,
        "SELECT state, delete_after FROM intermediate.inquiries WHERE person = $1",
        here["person"],
    )
    assert kept["state"] == "withheld"
    assert kept["delete_after"] is not None  # R42: deleted in its time like any result
    rejected = [a for a in await audit(stack, "held.rejected") if a["subject"] == held.message_id]
    assert len(rejected) == 1
    assert ("deliver", None) in await journal(stack, "rejection_notice")
    # The provider's 情報提供等記録 says its reply was rejected, not provided (R47), and
    # names the person by its 符号 alone.
    query = "SELECT outcome, subject FROM intermediate.provision_records WHERE reply_id = $1"

    async def noted() -> bool:
        rows = await stack.fetch(YUKI, query, uuid.UUID(held.message_id))
        return bool(rows) and rows[0]["outcome"] == "rejected"

    await until(noted, "the provider's record of the rejected reply")
    (record,) = await stack.fetch(YUKI, query, uuid.UUID(held.message_id))
    assert record["subject"]
    assert not looks_like_my_number(record["subject"])


async def test_f08_the_network_distributes_the_list_to_every_server(stack: Stack) -> None:
    expected = network_list(Path(stack.extra_env["SESSHU_ROUTING__POLICY_DIR"]))
    for city in (CHIKUSEI, YUKI):
        (kept,) = await stack.fetch(city, "SELECT version, rows FROM intermediate.network_list")
        assert kept["version"] == expected.version
        assert len(json.loads(kept["rows"])) == len(expected.rows)
    assert (await journal(stack, "permitted_list_update")).count(("deliver", None)) >= 2


async def test_f09_a_resident_asks_for_their_own_data_through_the_portal(stack: Stack) -> None:
    resident = person(CHIKUSEI)
    await register(stack, CHIKUSEI, resident)
    stack.drop(
        CHIKUSEI,
        "health_mgmt",
        "records",
        f"{uuid.uuid4()}.csv",
        records_csv([record_row(resident["basic_code"])]),
    )
    await until(
        lambda: stack.exists(
            CHIKUSEI, "SELECT 1 FROM intermediate.fukuhon WHERE person = $1", resident["person"]
        ),
        "the 副本",
    )
    code = await _code(stack, CHIKUSEI, resident["resident_code"])
    _drop_portal_request(stack, CHIKUSEI, code)
    reply = await _portal_notice(stack, CHIKUSEI, code, "self_information_reply")
    assert [d["dose_number"] for d in reply["history"]] == [1]
    assert reply["exchange_records"] == []  # not asked for
    assert ("deliver", None) in await journal(stack, "self_information_request")


async def test_f09_a_resident_sees_who_asked_about_them_as_the_portal_shows_it(
    stack: Stack,
) -> None:
    # R47 (issue 15): after Chikusei asked Yuki about a resident (F6), each city's portal
    # reply lists that exchange: the other city, the procedure, the data item, when, what
    # came of it; by the 符号 alone, through the same sealed path.
    here, held, _ = await _inquiry(stack)
    await until(lambda: _has_result(stack, here["person"]), "the result")
    for city, resident_code, role, counterpart in (
        (CHIKUSEI, here["resident_code"], "inquirer", YUKI),
        (YUKI, here["resident_code"], "provider", CHIKUSEI),
    ):
        code = await _code(stack, city, resident_code)
        _drop_portal_request(stack, city, code, exchange_records=True)
        reply = await _portal_notice(stack, city, code, "self_information_reply")
        (record,) = [r for r in reply["exchange_records"] if r["role"] == role]
        assert record["counterpart"] == counterpart
        assert (record["procedure"], record["data_item"]) == (
            "B2-115-2",
            "vaccination.history",
        )
        assert record["requested_at"]
        assert here["my_number"] not in json.dumps(reply, ensure_ascii=False)
    assert held.message_id


async def test_f10_the_server_notifies_the_resident_without_any_number(stack: Stack) -> None:
    resident = person(YUKI, ticket_number=None)
    await register(stack, YUKI, resident)
    code = await _code(stack, YUKI, resident["resident_code"])
    _drop_portal_request(stack, YUKI, code)
    reply = await _portal_notice(stack, YUKI, code, "self_information_reply")
    assert reply["history"] == []
    text = json.dumps(reply)
    assert resident["person"] not in text
    assert resident["my_number"] not in text


# --- F11-F16: VRS --------------------------------------------------------------------------


async def test_f11_targets_and_tickets_reach_vrs_and_a_number_without_purpose_is_refused(
    stack: Stack,
) -> None:
    resident = person(YUKI)
    await register(stack, YUKI, resident)
    (target,) = await stack.opened(
        YUKI, TARGETS, "SELECT * FROM vrs.targets WHERE basic_code = $1", resident["basic_code"]
    )
    assert (target["ticket_number"], target["name"], target["status"]) == (
        resident["ticket_number"],
        resident["name"],
        "active",
    )
    example = example_payload("target_registration")
    assert isinstance(example, TargetRegistration)
    no_purpose = example.model_copy(update={"purpose": None, "batch_id": uuid.uuid4()})
    assert isinstance(no_purpose.targets[0], TargetPerson)
    refused = await stack.send_as(
        (IMS, YUKI), no_purpose, to=(VRS, YUKI), procedure="S19-16", data_item="covid.target"
    )
    await until(lambda: _decided(stack, refused.id), "the hub's decision")
    assert await stack.decision(refused.id) == ("reject", "my_number_purpose")  # R21
    # The hub reads only the declaration: one that lies about the purpose passes it, and
    # VRS, which opens the payload, refuses it and tells health management (R21).
    lying = await stack.send_as(
        (IMS, YUKI),
        no_purpose.model_copy(update={"batch_id": uuid.uuid4()}),
        to=(VRS, YUKI),
        procedure="S19-16",
        data_item="covid.target",
        declared=Declaration(my_number=True, purpose="certificate"),
    )
    await until(lambda: _decided(stack, lying.id), "the hub's decision")
    assert await stack.decision(lying.id) == ("deliver", None)
    await until(
        lambda: _effect(
            stack, YUKI, "adapter.vrs.082074", lying.id, "refused:declaration_mismatch"
        ),
        "VRS's refusal",
    )
    await until(
        lambda: _refusal_reached(stack, YUKI, "adapter.health_mgmt.082074", lying.id),
        "the refusal back at health management",
    )


async def test_f12_a_dose_read_at_the_site_reaches_health_management(stack: Stack) -> None:
    resident = person(CHIKUSEI)
    await register(stack, CHIKUSEI, resident)
    name = f"{uuid.uuid4()}.csv"
    stack.drop(
        CHIKUSEI,
        "vrs",
        "doses",
        name,
        rows_csv([dose_row(resident["ticket_number"], 1), dose_row("0999999999", 1)]),
    )
    await until(
        lambda: _dose_reported(stack, CHIKUSEI, resident["ticket_number"]),
        "the dose at health management",
    )
    lines = result_lines(stack, CHIKUSEI, "vrs", "doses", name)
    assert ["3", "ticket_number", "no such ticket in this city"] in lines
    assert "0999999999" not in str(lines)


async def test_f13_the_export_reaches_health_management_without_any_my_number(stack: Stack) -> None:
    resident = person(YUKI)
    await register(stack, YUKI, resident)
    await record_doses(stack, YUKI, resident["ticket_number"], 1, 2)
    folder = stack.data_dir / YUKI / "health_mgmt" / "out" / "vaccination_export"
    await until(
        lambda: _exported(folder, resident["ticket_number"], 2), "the export with both doses"
    )
    rows = [
        r
        for p in folder.glob("*.csv")
        for r in csv.reader(io.StringIO(p.read_bytes().decode("cp932")))
    ]
    mine = [r for r in rows if r[1] == resident["ticket_number"]]
    assert sorted(r[2] for r in mine) == ["1", "2"]
    assert not [cell for row in rows for cell in row if looks_like_my_number(cell)]  # R22
    assert resident["my_number"] not in str(rows)
    assert ("deliver", None) in await journal(stack, "vaccination_export")


async def _transfer(stack: Stack) -> tuple[dict[str, Any], dict[str, Any], str]:
    before = person(YUKI)
    await register(stack, YUKI, before)
    await record_doses(stack, YUKI, before["ticket_number"], 1, 2)
    after = person(CHIKUSEI, my_number=before["my_number"], resident_code=before["resident_code"])
    await register(stack, CHIKUSEI, after)
    name = f"{uuid.uuid4()}.csv"
    row = {
        "my_number": before["my_number"],
        "former_municipality": YUKI,
        "ticket_number": after["ticket_number"],
        "register_confirmed": "true",
        "consent_reference": "CONSENT-2026-0001",
        "id_document": "my_number_card",
        "checked_by": "staff.madoguchi.01",
        "checked_at": "2026-11-20T01:00:00Z",
    }
    stack.drop(
        CHIKUSEI,
        "vrs",
        "transfer_in",
        name,
        rows_csv(
            [
                row,
                row | {"register_confirmed": "false", "ticket_number": ""},
                row | {"consent_reference": "", "ticket_number": ""},
            ]
        ),
    )
    return before, after, name


async def test_f14_transfer_in_asks_the_former_city_only_with_register_check_and_consent(
    stack: Stack,
) -> None:
    before, after, name = await _transfer(stack)
    await until(stack.held, "Yuki's provision held")
    await stack.approve(YUKI, "covid-vaccination", f"kacho.{uuid.uuid4().hex[:6]}")
    await until(
        lambda: _count(
            stack,
            CHIKUSEI,
            "SELECT count(*) FROM vrs.doses WHERE ticket_number = $1 AND source = 'transfer_in'",
            after["ticket_number"],
            2,
        ),
        "the former city's doses",
    )
    lines = result_lines(stack, CHIKUSEI, "vrs", "transfer_in", name)
    assert [
        "3",
        "register_confirmed",
        "confirm the My Number in the resident register first (R04)",
    ] in lines
    assert ["4", "consent_reference", "this city asks for the resident's consent (R02)"] in lines
    assert before["my_number"] not in str(lines)
    assert ("deliver", None) in await journal(stack, "transfer_in_inquiry")


async def test_f15_transfer_out_waits_for_approval_and_provides_only_that_person(
    stack: Stack,
) -> None:
    bystander = person(YUKI)
    await register(stack, YUKI, bystander)
    await record_doses(stack, YUKI, bystander["ticket_number"], 1)
    _, after, _ = await _transfer(stack)
    await until(stack.held, "Yuki's provision held")
    (held,) = await stack.approve(YUKI, "covid-vaccination", f"kacho.{uuid.uuid4().hex[:6]}")
    assert held.kind == "transfer_out_provision"
    await until(
        lambda: _count(
            stack,
            CHIKUSEI,
            "SELECT count(*) FROM vrs.transfer_inquiries"
            " WHERE ticket_number = $1 AND state = 'provided'",
            after["ticket_number"],
            1,
        ),
        "the answer",
    )
    (asked,) = await stack.fetch(
        CHIKUSEI,
        "SELECT doses FROM vrs.transfer_inquiries WHERE ticket_number = $1",
        after["ticket_number"],
    )
    assert asked["doses"] == 2  # the bystander's dose is not among them
    assert any(a["subject"] == held.message_id for a in await audit(stack, "held.released"))
    assert ("hold", "auto_response_disabled") in await journal(stack, "transfer_out_provision")


async def test_f16_moved_out_and_deceased_flags_reach_vrs(stack: Stack) -> None:
    moving, dying = person(CHIKUSEI), person(CHIKUSEI)
    await register(stack, CHIKUSEI, moving, dying)
    stack.drop(
        CHIKUSEI,
        "health_mgmt",
        "residents",
        f"{uuid.uuid4()}.csv",
        rows_csv(
            [
                moving | {"status": "moved_out", "status_on": "2026-11-15"},
                dying | {"status": "deceased", "status_on": "2026-11-16"},
            ]
        ),
    )
    flagged = "SELECT 1 FROM vrs.targets WHERE basic_code = $1 AND status = $2"
    for resident, status in ((moving, "moved_out"), (dying, "deceased")):
        check = functools.partial(stack.exists, CHIKUSEI, flagged, resident["basic_code"], status)
        await until(check, f"the {status} flag")
    assert (await journal(stack, "resident_status_flag")).count(("deliver", None)) >= 2


# --- F17-F19: certificates ------------------------------------------------------------------


async def _vaccinated_card(stack: Stack) -> tuple[dict[str, Any], MyNumberCard]:
    resident = person(CHIKUSEI)
    await register(stack, CHIKUSEI, resident)
    await record_doses(stack, CHIKUSEI, resident["ticket_number"], 1, 2)
    card = CardAuthority(key=card_authority(stack.key_root / CARD_AUTHORITY_PARTY)).card_for(
        resident, "4821"
    )
    return resident, card


async def _apply(
    city: str,
    stack: Stack,
    application: dict[str, Any],
    terminal: str | None = KIOSK_TERMINAL,
    *,
    naming: str | None = None,
    clerk: str | None = COUNTER_CLERK.operator,
) -> httpx2.Response:
    """An application posted to a city's center by one of its demo terminals (its own
    token; None: with none), the channel being the terminal's (unless the request names
    one, `naming`, which the center refuses); at the counter, with the `clerk`'s own
    credential (None: without)."""
    headers = {} if terminal is None else {"Authorization": f"Bearer {stack.token(city, terminal)}"}
    if terminal == COUNTER_TERMINAL and clerk is not None:
        headers["X-Clerk-Token"] = stack.clerk_token(city, clerk)
    body = {k: v for k, v in application.items() if k != "channel"}
    if naming is not None:
        body["channel"] = naming
    async with httpx2.AsyncClient(
        timeout=60, verify=ssl.create_default_context(cafile=TLS_CA)
    ) as client:
        return await client.post(
            f"{kiosk_url(stack, city)}/applications", json=body, headers=headers
        )


def _counter(card: MyNumberCard, **changes: Any) -> dict[str, Any]:
    """What the counter clerk sends after checking the applicant's licence: the number
    typed, no chip, the clerk's account and the ID-check record (F17)."""
    application = card.apply("4821", application_id=uuid.uuid4()).model_dump(mode="json")
    return (
        application
        | {
            "my_number_source": "typed",
            "card_signature": None,
            "pin_verified": False,
            "identity_check": {
                "document": "driving_licence",
                "checked_by": COUNTER_CLERK.operator,
                "checked_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            },
        }
        | changes
    )


def _verified(stack: Stack, answer: httpx2.Response) -> dict[str, Any]:
    assert answer.status_code == 201, answer.text
    certificate: dict[str, Any] = answer.json()
    issuer = shc_issuer(AdaptersSettings().shc_issuer_url, None, stack.key_root / SHC_ISSUER_PARTY)
    assert len(verify(certificate["jws"], [issuer]).immunizations) == 2
    assert from_qr_text(certificate["qr"]) == certificate["jws"]
    assert base64.b64decode(certificate["qr_png_base64"]).startswith(b"\x89PNG")
    assert base64.b64decode(certificate["pdf_base64"]).startswith(b"%PDF")  # on every channel
    return certificate


async def test_f17_a_counter_certificate_with_a_typed_number(stack: Stack) -> None:
    resident, card = await _vaccinated_card(stack)
    application = _counter(card)
    _verified(stack, await _apply(CHIKUSEI, stack, application, COUNTER_TERMINAL))
    # Forbidden: a certificate for a person VRS has no dose for; one for a number whose
    # person is not the applicant (a mistyped number). VRS says so at once, and why.
    nobody = person(CHIKUSEI)
    await register(stack, CHIKUSEI, nobody)
    mistyped = application | {"application_id": str(uuid.uuid4()), "my_number": nobody["my_number"]}
    answer = await _apply(CHIKUSEI, stack, mistyped, COUNTER_TERMINAL)
    assert (answer.status_code, answer.json()["code"]) == (403, "identity_mismatch")
    empty = mistyped | {
        "application_id": str(uuid.uuid4()),
        "name": nobody["name"],
        "birth_date": nobody["birth_date"],
    }
    answer = await _apply(CHIKUSEI, stack, empty, COUNTER_TERMINAL)
    assert (answer.status_code, answer.json()["code"]) == (404, "no_record")
    assert ("deliver", None) in await journal(stack, "certificate_issued")
    assert ("deliver", None) in await journal(stack, "delivery_refusal")
    # Forbidden at the counter (issue 16): no clerk signed in, a clerk the request names
    # rather than proves, no ID check, one by nobody of the roster or hours old; and a
    # typed number from any terminal but the counter's, whatever the request says its
    # channel is.
    unsigned = await _apply(CHIKUSEI, stack, _counter(card), COUNTER_TERMINAL, clerk=None)
    assert (unsigned.status_code, unsigned.json()["code"]) == (403, "clerk_unauthenticated")
    refusals = [
        (_counter(card, operator="someone.else"), COUNTER_TERMINAL, 422, "invalid_application"),
        (_counter(card, identity_check=None), COUNTER_TERMINAL, 422, "invalid_application"),
        (
            _counter(card, identity_check=None),
            KIOSK_TERMINAL,
            422,
            "invalid_application",
        ),
        (_counter(card), None, 401, "terminal_unauthenticated"),
    ]
    named = await _apply(CHIKUSEI, stack, _counter(card), KIOSK_TERMINAL, naming="counter")
    assert named.status_code == 422
    assert named.json()["detail"][0]["loc"] == ["body", "channel"]
    stranger = _counter(card)
    stranger["identity_check"] |= {"checked_by": "someone.else"}
    refusals.append((stranger, COUNTER_TERMINAL, 403, "identity_check_refused"))
    stale = _counter(card)
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    stale["identity_check"] |= {"checked_at": two_hours_ago.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    refusals.append((stale, COUNTER_TERMINAL, 403, "identity_check_refused"))
    kiosk = card.apply("4821", application_id=uuid.uuid4()).model_dump(mode="json")
    staffed = kiosk | {"operator": COUNTER_CLERK.operator}
    refusals.append((staffed, KIOSK_TERMINAL, 422, "invalid_application"))
    refusals.append((application, COUNTER_TERMINAL, 409, "duplicate_application"))  # its id
    for body, terminal, status, code in refusals:
        answer = await _apply(CHIKUSEI, stack, body, terminal)
        assert (answer.status_code, answer.json()["code"]) == (status, code), (terminal, code)
        assert resident["my_number"] not in answer.text
    # The center's record: who took each application, where, and the ID check; nothing of
    # the person, and never the certificate (R50).
    kept = await stack.fetch(
        CHIKUSEI,
        "SELECT * FROM kiosk.applications WHERE application_id = $1 ORDER BY seq",
        uuid.UUID(application["application_id"]),
    )
    clerk = ("counter", COUNTER_TERMINAL, COUNTER_CLERK.operator, "driving_licence")
    assert [
        (r["channel"], r["terminal"], r["operator"], r["id_document"], r["outcome"], r["reason"])
        for r in kept
    ] == [
        (*clerk, "taken", None),
        (*clerk, "issued", None),
        (*clerk, "refused", "duplicate_application"),
    ]
    with pytest.raises(asyncpg.RaiseError, match="append-only"):  # nobody rewrites it
        await stack.fetch(CHIKUSEI, "DELETE FROM kiosk.applications")
    reasons = await stack.fetch(
        CHIKUSEI, "SELECT reason FROM kiosk.applications WHERE outcome = 'refused'"
    )
    assert {"identity_check_refused", "duplicate_application"} <= {r["reason"] for r in reasons}
    everything = await stack.fetch(CHIKUSEI, "SELECT * FROM kiosk.applications")
    assert not [v for v in identifying_values() if v in str([dict(r) for r in everything])]


async def test_f18_an_app_certificate_needs_the_chip_and_the_pin(stack: Stack) -> None:
    _, card = await _vaccinated_card(stack)
    app = card.apply("4821", application_id=uuid.uuid4(), channel="app").model_dump(mode="json")
    _verified(stack, await _apply(CHIKUSEI, stack, app, APP_TERMINAL))
    answer = await _apply(
        CHIKUSEI,
        stack,
        app | {"application_id": str(uuid.uuid4()), "pin_verified": False},
        APP_TERMINAL,
    )
    assert answer.status_code == 422  # R06: both factors
    # R10 on every channel: the app reaches no center of a city not enrolled (issue 16).
    elsewhere = await _apply(YUKI, stack, app | {"application_id": str(uuid.uuid4())}, APP_TERMINAL)
    assert (elsewhere.status_code, elsewhere.json()["code"]) == (403, "not_enrolled")
    # R05: a certificate My Number is used only while its application is open at the
    # center: one sent to VRS after the center stopped waiting is refused, unlooked-up.
    late = CertificateApplication.model_validate(app | {"application_id": str(uuid.uuid4())})
    stale = await stack.send_as(
        (KIOSK, CHIKUSEI),
        late,
        to=(VRS, CHIKUSEI),
        procedure="S19-16",
        data_item="covid.certificate",
        sent_at=datetime.now(UTC) - timedelta(minutes=2),
    )
    await until(
        lambda: _effect(
            stack, CHIKUSEI, "adapter.vrs.082279", stale.id, "refused:application_closed"
        ),
        "VRS's refusal of the closed application",
    )
    with pytest.raises(WrongPin):
        card.apply("0000", application_id=uuid.uuid4())
    with pytest.raises(WrongPin):
        card.apply("1111", application_id=uuid.uuid4())
    with pytest.raises(CardLocked):
        card.apply("2222", application_id=uuid.uuid4())
    with pytest.raises(CardLocked):
        card.apply("4821", application_id=uuid.uuid4())


async def test_f19_a_kiosk_certificate_only_where_enrolled_and_nothing_is_kept(
    stack: Stack,
) -> None:
    resident, card = await _vaccinated_card(stack)
    kiosk = card.apply("4821", application_id=uuid.uuid4()).model_dump(mode="json")
    certificate = _verified(stack, await _apply(CHIKUSEI, stack, kiosk))
    elsewhere = await _apply(YUKI, stack, kiosk | {"application_id": str(uuid.uuid4())})
    assert (elsewhere.status_code, elsewhere.json()["code"]) == (403, "not_enrolled")  # R10
    forged = kiosk | {"application_id": str(uuid.uuid4()), "name": "偽名 太郎"}
    refused = await _apply(CHIKUSEI, stack, forged)
    assert (refused.status_code, refused.json()["code"]) == (403, "card_signature")  # R07
    typed = await _apply(
        CHIKUSEI, stack, kiosk | {"application_id": str(uuid.uuid4()), "my_number_source": "typed"}
    )
    assert typed.status_code == 422  # R08
    assert resident["my_number"] not in typed.text
    assert resident["name"] not in typed.text
    # R50: no table, file or log line holds the certificate: not the adapters' (the
    # center keeps nothing) and not the hub's (it carried it sealed, so its journal holds
    # ciphertext only), nor the application (sealed to VRS likewise).
    secrets = [certificate["jws"].split(".")[2], certificate["certificate_id"]]
    journaled = await stack.hub_rows(
        "SELECT canonical FROM journal"
        " WHERE kind IN ('certificate_application', 'certificate_issued')"
    )
    assert journaled
    assert all(b'"kind":"sealed"' in bytes(row["canonical"]) for row in journaled)
    for owner in ("hub", CHIKUSEI, YUKI, "nws"):
        for value in secrets:
            assert not await _anywhere(stack, owner, value), (owner, value)
    for path in stack.root.rglob("*"):
        if path.is_file() and not path.name.endswith(".pem"):
            data = path.read_bytes()
            assert not [v for v in secrets if v.encode() in data], path
    logs = stack.logs()
    assert not [
        v
        for v in (*secrets, resident["my_number"], resident["name"], resident["address"])
        if v in logs
    ]


# --- F20: maintenance -------------------------------------------------------------------------


async def test_f20_contractors_work_only_from_the_named_roster_and_are_logged(stack: Stack) -> None:
    desk = await open_desk(stack.services.settings(**stack.extra_env))
    terminal = Terminal("198.51.100.7", "vendor-maintenance/1.0")
    try:
        today = datetime.now(UTC).date()  # the roster's days are Japan's: a day either side
        await desk.add_staff(
            "vendor.tanaka",
            roles=[Role.CONTRACTOR],
            municipality=CHIKUSEI,
            department="vendor-maintenance",
            password=PASSWORD,
            terminals=["198.51.100.7/32"],
            roster=RosterEntry(
                "Example Maintenance K.K.",
                "田中 一郎",
                today - timedelta(days=1),
                today + timedelta(days=1),
            ),
            actor="admin.chikusei",
        )
        _, session = await desk.login("vendor.tanaka", PASSWORD, terminal)
        await desk.overview(session, window_seconds=3600)  # a contractor's work: the console
        with pytest.raises(NotAuthenticated):
            await desk.login("vendor.unknown", PASSWORD, terminal)
        await desk.disable_staff("vendor.tanaka", actor="admin.chikusei")
        with pytest.raises(NotAuthenticated):
            await desk.login("vendor.tanaka", PASSWORD, terminal)
    finally:
        await desk.store.close()
    logins = await audit(stack, "login")
    mine = [a for a in logins if a["actor"] == "vendor.tanaka"]
    assert mine
    assert json.loads(mine[0]["terminal"])["client"] == "198.51.100.7"
    failed = [a["actor"] for a in await audit(stack, "login.failed")]
    # An unknown account is logged as such, without trusting the name it gave.
    assert "unknown" in failed
    assert "vendor.tanaka" in failed


# --- what the operators see -------------------------------------------------------------


async def test_every_process_exports_metrics_promtool_accepts_with_bounded_labels(
    stack: Stack,
) -> None:
    # After the flows above: each process's /metrics parses for promtool, every label is on
    # the allow-list with a value from its set, and the counts show the day's work.
    texts = {name: scrape(port) for name, port in stack.metrics_ports.items()}
    texts["desk"] = desk_metrics()
    assert set(texts) == {"desk", *stack.metrics_ports}
    for name, text in texts.items():
        assert promtool_problems(text) == "", name
        assert label_problems(text, CITIES) == [], name
        assert "sesshu_build_info{" in text, name
    families = {name: _families(text) for name, text in texts.items()}
    hub = families["hub"]
    assert _total(hub, "sesshu_messages_processed", decision="delivered") > 0
    assert _total(hub, "sesshu_messages_processed", decision="held") > 0
    assert _total(hub, "sesshu_messages_processed", decision="rejected") > 0
    assert _total(hub, "sesshu_messages_published", outcome="confirmed") > 0
    assert _total(hub, "sesshu_processing_seconds", stage="confirmed", suffix="_count") > 0
    assert _total(hub, "sesshu_broker_connected", suffix="") == 1
    vrs = families[f"vrs-{CHIKUSEI}"]
    assert _total(vrs, "sesshu_adapter_published") > 0
    assert _total(vrs, "sesshu_adapter_deliveries", outcome="handled") > 0
    assert _total(vrs, "sesshu_adapter_rows", outcome="imported") > 0
    assert _total(vrs, "sesshu_adapter_events", event="certificate_issued") > 0
    assert _total(families[f"intermediate-{CHIKUSEI}"], "sesshu_adapter_events") > 0
    assert _total(vrs, "faststream_received_messages") > 0
    assert _total(families["desk"], "sesshu_desk_decisions", outcome="approved") > 0
    assert _total(families["desk"], "sesshu_desk_logins", outcome="ok") > 0
    # The outbox and pool gauges are read from the database, not left at 0.
    assert _total(hub, "sesshu_db_pool_size", suffix="") > 0
    assert "sesshu_outbox_oldest_unpublished_seconds" in hub
    # Every metric the alert rules and the Grafana dashboard query is on some process's
    # /metrics (RabbitMQ's, Prometheus's and the postgres exporter's aside).
    scraped = set().union(*(scraped_metrics(text) for text in texts.values()))
    assert queried_metrics() - set(EXTERNAL_METRICS) - scraped == set()


async def test_every_process_logs_json_lines_its_start_and_the_hubs_decisions(
    stack: Stack,
) -> None:
    # After the flows above: each process has logged, every line is one JSON object, each
    # says its start at INFO, and the hub's refusals and holds are INFO lines that name the
    # message, its kind, the decision, the reason and the trace.
    assert stack.hub is not None
    assert stack.processes is not None
    # A refusal of the hub's own (the flows' refusals are the systems'): not an envelope.
    connection = await aio_pika.connect(stack.services.amqp_url)
    async with connection:
        channel = await connection.channel()
        ingress = await channel.get_exchange(INGRESS_EXCHANGE)
        await ingress.publish(
            aio_pika.Message(b"not an envelope"), routing_key="vaccination_record"
        )

    async def refused_logged() -> bool:
        return '"reason": "contract_invalid"' in (stack.hub.log() if stack.hub else "")

    await wait_for(refused_logged, 30, "the hub's refusal in its log")
    logs = {"hub": stack.hub.log()} | {
        name: stack.processes.log(name) for name in stack.processes.children
    }
    entries: dict[str, list[dict[str, Any]]] = {}
    for name, text in logs.items():
        lines = [line for line in text.splitlines() if line.strip()]
        assert lines, f"{name} logged nothing"
        entries[name] = [json.loads(line) for line in lines]  # not JSON: fails here
        assert all(isinstance(entry, dict) for entry in entries[name]), name
        assert any(entry["level"] == "INFO" for entry in entries[name]), name
    decided = [
        entry
        for entry in entries["hub"]
        if entry.get("decision") in ("held", "rejected") and entry["level"] == "INFO"
    ]
    for entry in decided:
        assert {"kind", "reason", "trace_id", "span_id"} <= set(entry), entry
    assert any(e["decision"] == "held" and "message_id" in e for e in decided)
    junk = [e for e in decided if (e["kind"], e["reason"]) == ("unknown", "contract_invalid")]
    assert junk, decided  # not an envelope: no message id to give, a trace id all the same
    assert all(e["decision"] == "rejected" for e in junk)


def _families(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def _total(
    families: dict[str, list[tuple[dict[str, str], float]]],
    name: str,
    *,
    suffix: str = "_total",
    **labels: str,
) -> float:
    samples = families.get(name + suffix, [])
    return sum(v for found, v in samples if all(found.get(k) == x for k, x in labels.items()))


# --- what is left where: nothing readable about a person ---------------------------------


async def test_every_process_reaches_the_services_as_its_own_party_over_tls(
    stack: Stack,
) -> None:
    """Issue 13 (R11, R15, R41): the hub and each system connect to PostgreSQL as their own
    role, never the superuser, and to RabbitMQ as their own user, never guest, every link
    over TLS; the certificate center answers HTTPS only."""
    place = stack.services.place.name
    rows = await stack.fetch(
        "hub",
        "SELECT a.usename, a.datname, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s"
        " USING (pid) WHERE a.datname LIKE $1 AND a.usename <> 'postgres'",
        place + "%",
    )
    connected = {(row["usename"], row["datname"]) for row in rows}
    expected = {(f"{place}_hub", place), (f"{place}_nws", f"{place}_adapters_nws")}
    expected |= {
        (f"{place}_{system}_{city}", f"{place}_adapters_{city}")
        for city in CITIES
        for system in ("health_mgmt", "intermediate", "vrs", "kiosk")
    }
    assert expected <= connected
    assert all(row["ssl"] for row in rows)
    assert not await stack.fetch(  # no party role is a superuser
        "hub", "SELECT 1 FROM pg_roles WHERE rolname LIKE $1 AND rolsuper", place + "\\_%"
    )
    done = await asyncio.to_thread(
        subprocess.run,
        ["rabbitmqctl", "-q", "list_connections", "user", "vhost", "ssl"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    listed = done.stdout.splitlines()
    ours = [line.split("\t") for line in listed if f"\t{place}\t" in line]
    users = {user for user, _, _ in ours}
    parties = {f"{place}.hub", f"{place}.nws"}
    parties |= {
        f"{place}.{system}-{city}"
        for city in CITIES
        for system in ("health_mgmt", "intermediate", "vrs", "kiosk")
    }
    assert parties <= users
    assert all(ssl == "true" for user, _, ssl in ours if user in parties)
    plain = kiosk_url(stack, CHIKUSEI).replace("https://", "http://")
    async with httpx2.AsyncClient(timeout=10) as client:
        with pytest.raises(httpx2.HTTPError):  # the certificate center speaks HTTPS only
            await client.post(f"{plain}/applications", json={})


async def test_nothing_about_a_person_is_readable_in_the_hub_its_logs_or_the_stores(
    stack: Stack, desk_logs: list[str]
) -> None:
    # Last, after every flow above (F1-F20): the hub's database (every row of every table,
    # bytes decoded), the hub's, desk's and adapters' logs and the dead letters hold none
    # of the residents' My Numbers, 住民票コード, names, addresses or birth dates, nor
    # the examples'; a dump of each adapter database holds none in plaintext (R48).
    await register(stack, CHIKUSEI, person(CHIKUSEI))  # one at least, run alone
    values = identifying_values() | set(PERSONAL_VALUES)
    assert len(MADE) >= 1
    hub_text = await _hub_database_text(stack)
    assert "target_registration" in hub_text  # the scan reads the journal
    dead = await drain_queue(stack.services.amqp_url, DEAD_QUEUE)
    places = {
        "the hub database": hub_text,
        "the logs": stack.logs() + "\n".join(desk_logs),
        "the metrics": "\n".join(
            [desk_metrics(), *(scrape(port) for port in stack.metrics_ports.values())]
        ),
        "the dead letters": "\n".join(
            m.body.decode(errors="replace") + str(m.headers) for m in dead
        ),
    }
    for owner in (*CITIES, "nws"):
        places[f"the {owner} adapter database"] = await pg_dump(stack.database_url(owner))
    found = {where: sorted(v for v in values if v in text) for where, text in places.items()}
    assert found == {where: [] for where in places}


async def _hub_database_text(stack: Stack) -> str:
    """Every row of every table of the hub's database, as text, bytes also decoded."""
    tables = await stack.hub_rows(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
    )
    parts = []
    for table in tables:
        for row in await stack.hub_rows(f'SELECT * FROM "{table["table_name"]}"'):  # noqa: S608
            for value in row.values():
                if isinstance(value, bytes | memoryview):
                    parts.append(bytes(value).decode(errors="replace"))
                parts.append(str(value))
    return "\n".join(parts)


# --- helpers ----------------------------------------------------------------------------------


async def _at_inquirer(stack: Stack, held_id: object) -> dict[str, str]:
    """What Chikusei's intermediate server did with what followed a held reply of Yuki's:
    the hub's attestation and the reply the network carried, by kind."""
    rows = await stack.hub_rows(
        "SELECT kind, message_id FROM journal WHERE causation_id = $1 AND decision = 'deliver'"
        " AND recipient_system = 'intermediate' AND recipient_municipality = $2",
        uuid.UUID(str(held_id)),
        CHIKUSEI,
    )
    found = {}
    for row in rows:
        effects = await stack.fetch(
            CHIKUSEI,
            "SELECT effect FROM adapter_effects WHERE consumer = $1 AND message_id = $2",
            "adapter.intermediate.082279",
            row["message_id"],
        )
        if effects:
            found[row["kind"]] = effects[0]["effect"]
    return found


async def _effect(stack: Stack, city: str, consumer: str, message_id: object, effect: str) -> bool:
    return await stack.exists(
        city,
        "SELECT 1 FROM adapter_effects WHERE consumer = $1 AND message_id = $2 AND effect = $3",
        consumer,
        message_id,
        effect,
    )


async def _refusal_reached(stack: Stack, city: str, consumer: str, refused: object) -> bool:
    """Whether the sender's adapter recorded its recipient's refusal of `refused`."""
    rows = await stack.hub_rows(
        "SELECT message_id FROM journal WHERE kind = 'delivery_refusal' AND causation_id = $1",
        refused,
    )
    if not rows:
        return False
    return await stack.exists(
        city,
        "SELECT 1 FROM adapter_effects WHERE consumer = $1 AND message_id = $2"
        " AND effect LIKE 'refused_by_recipient:%'",
        consumer,
        rows[0]["message_id"],
    )


async def _exists(path: Path) -> bool:
    return path.exists()  # noqa: ASYNC240 - a poll


async def _code(stack: Stack, city: str, resident_code: str) -> str:
    await until(lambda: _coded(stack, resident_code, city), "the 符号 at the network")
    rows = await stack.fetch(city, CODE_OF_PERSON, await stack.person_of(city, resident_code))
    return str(rows[0]["code"])


async def _coded(stack: Stack, resident_code: str, city: str | None = None) -> bool:
    # The 住民票コード is stored encrypted (R48): the person is found by opening it.
    cities = [city] if city else [CHIKUSEI, YUKI]
    for each in cities:
        person = await stack.person_of(each, resident_code)
        rows = [] if person is None else await stack.fetch(each, CODE_OF_PERSON, person)
        if not rows or not await stack.exists(
            "nws", "SELECT 1 FROM nws.codes WHERE agency = $1 AND code = $2", each, rows[0]["code"]
        ):
            return False
    return True


def _drop_portal_request(
    stack: Stack, city: str, code: str, *, exchange_records: bool = False
) -> None:
    inbox = stack.data_dir / "nws" / "portal" / "requests" / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    partial = inbox / f"{uuid.uuid4()}.part"
    row = {"municipality": city, "code": code}
    if exchange_records:
        row["exchange_records"] = "true"
    partial.write_bytes(rows_csv([row], by=None))  # the portal's: a resident, no staff
    partial.replace(partial.with_suffix(".csv"))


async def _portal_notice(stack: Stack, city: str, code: str, notice_type: str) -> dict[str, Any]:
    async def found() -> dict[str, Any] | None:
        folder = stack.data_dir / "nws" / "portal" / city
        for path in folder.glob("*.json") if folder.is_dir() else []:
            notice: dict[str, Any] = json.loads(path.read_text())
            if notice["person"] == code and notice["notice_type"] == notice_type:
                return notice
        return None

    async def arrived() -> bool:
        return await found() is not None

    await until(arrived, f"the {notice_type} notice on the portal")
    notice = await found()
    assert notice is not None
    return notice


async def _result_for(stack: Stack, person_number: str) -> dict[str, Any] | None:
    return next(
        (
            r
            for r in stack.out(CHIKUSEI, "health_mgmt", "inquiry_result")
            if r["person"] == person_number
        ),
        None,
    )


async def _has_result(stack: Stack, person_number: str) -> bool:
    return await _result_for(stack, person_number) is not None


async def _decided(stack: Stack, message_id: uuid.UUID) -> bool:
    return await stack.decision(message_id) is not None


async def _effects_of(stack: Stack, owner: str, consumer: str, sent: list[Any]) -> list[str]:
    rows = await stack.fetch(
        owner,
        "SELECT message_id, effect FROM adapter_effects WHERE consumer = $1 ORDER BY seq",
        consumer,
    )
    by_id: dict[uuid.UUID, list[str]] = {}
    for row in rows:
        by_id.setdefault(row["message_id"], []).append(row["effect"])
    return [e for envelope in sent for e in by_id.get(envelope.id, [])]


async def _effects_at_least(stack: Stack, owner: str, consumer: str, sent: list[Any]) -> bool:
    rows = await stack.fetch(
        owner, "SELECT DISTINCT message_id FROM adapter_effects WHERE consumer = $1", consumer
    )
    return {e.id for e in sent} <= {r["message_id"] for r in rows}


async def _dose_reported(stack: Stack, city: str, ticket: str) -> bool:
    return any(r["ticket_number"] == ticket for r in stack.out(city, "health_mgmt", "dose_record"))


async def _exported(folder: Path, ticket: str, doses: int) -> bool:
    if not folder.is_dir():  # noqa: ASYNC240 - a poll
        return False
    rows = [
        r
        for p in folder.glob("*.csv")  # noqa: ASYNC240 - a poll
        for r in csv.reader(io.StringIO(p.read_bytes().decode("cp932")))
    ]
    return sum(1 for r in rows if r[1] == ticket) >= doses


async def _anywhere(stack: Stack, owner: str, value: str) -> bool:
    """True if any text or JSON column of any table in the database holds `value`."""
    columns = await stack.fetch(
        owner,
        "SELECT table_schema, table_name, column_name FROM information_schema.columns"
        " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        " AND data_type IN ('text', 'jsonb', 'character varying')",
    )
    for column in columns:
        table = f'"{column["table_schema"]}"."{column["table_name"]}"'
        sql = f'SELECT 1 FROM {table} WHERE "{column["column_name"]}"::text LIKE $1 LIMIT 1'  # noqa: S608 - names from the catalog
        if await stack.fetch(owner, sql, f"%{value}%"):
            return True
    return False
