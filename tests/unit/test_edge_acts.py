"""People and terminals at the health-management and VRS edges (issue 15): every row of a
request file names the staff account that made it and the terminal it came from, checked
against the city's roster before anything is sent (R16 one account per person, R26/R27 the
terminal allow-list, R29/R31 the act log, R32-R34 the department's procedures, R23 a
contractor's period, R18 a leaver disabled). Each forbidden variant is refused with the
field and the reason, never the value, and logged; the allowed one travels as
`sender.operator`."""

from __future__ import annotations

import csv
import io
import os
from datetime import date
from pathlib import Path
from typing import Any, cast

import pytest

from adapters.health_mgmt.bridge import HealthMgmt
from adapters.health_mgmt.edge import HealthMgmtEdge, OutFolder
from adapters.health_mgmt.memory import MemoryResidents
from adapters.health_mgmt.simulator import Town
from adapters.kit.acts import Act, ActCheck, MemoryActLog, RosterFile, no_roster
from adapters.kit.bridge import Bridge
from adapters.kit.rows import rows_csv
from adapters.vrs.bridge import Vrs
from adapters.vrs.edge import VrsEdge
from adapters.vrs.memory import MemoryVrsBook
from adapters.vrs.simulator import transfer_requests
from contracts.examples import example_payload
from contracts.payloads import TargetRegistration
from stack.rosters import COUNTER_CLERK, HEALTH_CLERK, roster_toml
from tests.unit.test_edges import CHIKUSEI_BODY, CITY, OTHER, Recorder, drop

DAY = date(2026, 12, 3)
ROSTER = """\
[departments.health-promotion]
procedures = ["B2-115-2", "S19-16"]

[departments.tax]
procedures = ["B2-1"]

[terminals]
hm-term-01 = "health section"
vrs-term-01 = "counter"

[[staff]]
id = "hoken.sato"
department = "health-promotion"

[[staff]]
id = "staff.madoguchi.01"
department = "health-promotion"

[[staff]]
id = "suzuki.k"
department = "health-promotion"
disabled_on = 2026-11-30

[[staff]]
id = "zei.tanaka"
department = "tax"

[[staff]]
id = "vendor.kato"
department = "health-promotion"
contractor = { company = "Example SI", person = "加藤", from = 2026-04-01, until = 2026-12-02 }
"""


def roster_file(tmp_path: Path, text: str = ROSTER, mode: int = 0o644) -> RosterFile:
    path = tmp_path / "rosters" / f"{CITY}.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return RosterFile(path)


def check(
    roster: RosterFile, on: date = DAY, procedures: tuple[str, ...] = ("S19-16",)
) -> ActCheck:
    return ActCheck(roster.gate(), procedures, on)


def refusal(
    roster: RosterFile,
    operator: str,
    terminal: str,
    on: date = DAY,
    procedures: tuple[str, ...] = ("S19-16",),
) -> tuple[str, str] | None:
    _, problems = check(roster, on, procedures).take({"operator": operator, "terminal": terminal})
    return problems[0] if problems else None


def test_r16_r26_an_account_of_the_roster_at_a_listed_terminal_may_act(tmp_path: Path) -> None:
    roster = roster_file(tmp_path)
    act, problems = check(roster).take({"operator": "hoken.sato", "terminal": "hm-term-01"})
    assert (act, problems) == (Act("hoken.sato", "hm-term-01"), [])


def test_r16_an_act_without_a_person_or_a_terminal_is_refused(tmp_path: Path) -> None:
    roster = roster_file(tmp_path)
    assert refusal(roster, "", "hm-term-01") == (
        "operator",
        "required: the staff account that made the row",
    )
    assert refusal(roster, "hoken.sato", " ") == (
        "terminal",
        "required: the terminal the row was made at",
    )
    assert refusal(roster, "Hoken Sato", "hm-term-01") == (
        "operator",
        "not an account id (2-64 of a-z 0-9 . _ -)",
    )
    assert refusal(roster, "hoken.sato", "hm term;01") == (
        "terminal",
        "not a terminal id (1-64 of A-Z a-z 0-9 . _ -)",
    )


def test_r16_a_my_number_typed_as_the_operator_is_refused_and_not_kept(tmp_path: Path) -> None:
    act, problems = check(roster_file(tmp_path)).take(
        {"operator": "123456789018", "terminal": "hm-term-01"}
    )
    assert act is None  # so the act log keeps no operator for the row
    assert problems == [("operator", "not an account id (2-64 of a-z 0-9 . _ -)")]


def test_r26_a_roster_in_a_folder_others_may_write_or_of_another_owner_is_refused(
    tmp_path: Path,
) -> None:
    roster = roster_file(tmp_path)
    assert roster.path is not None
    roster.path.parent.chmod(0o777)
    assert refusal(roster, "hoken.sato", "hm-term-01") == (
        "operator",
        f"no roster: {CITY}.toml's folder is writable by others than its owner",
    )
    roster.path.parent.chmod(0o755)
    if os.getuid() == 0:  # only root can give the file away
        os.chown(roster.path, 12345, 12345)
        assert refusal(roster, "hoken.sato", "hm-term-01") == (
            "operator",
            f"no roster: {CITY}.toml belongs to neither this account nor root",
        )


def test_r16_an_account_not_on_the_roster_is_refused(tmp_path: Path) -> None:
    assert refusal(roster_file(tmp_path), "nobody.here", "hm-term-01") == (
        "operator",
        "not an account on the city's roster",
    )


def test_r18_a_disabled_account_is_refused_from_its_day_on(tmp_path: Path) -> None:
    roster = roster_file(tmp_path)
    assert refusal(roster, "suzuki.k", "hm-term-01", on=date(2026, 11, 29)) is None
    assert refusal(roster, "suzuki.k", "hm-term-01", on=date(2026, 11, 30)) == (
        "operator",
        "the account is disabled",
    )


def test_r26_r27_a_terminal_off_the_allow_list_is_refused(tmp_path: Path) -> None:
    assert refusal(roster_file(tmp_path), "hoken.sato", "home-laptop") == (
        "terminal",
        "not on the city's terminal allow-list",
    )


def test_r32_r34_an_account_whose_department_does_not_manage_the_procedure_is_refused(
    tmp_path: Path,
) -> None:
    assert refusal(roster_file(tmp_path), "zei.tanaka", "hm-term-01") == (
        "operator",
        "the account's department does not manage S19-16",
    )


def test_r23_a_contractor_acts_only_within_its_roster_period(tmp_path: Path) -> None:
    roster = roster_file(tmp_path)
    assert refusal(roster, "vendor.kato", "hm-term-01", on=date(2026, 12, 2)) is None
    outside = ("operator", "the contractor's roster period does not cover this day")
    assert refusal(roster, "vendor.kato", "hm-term-01", on=date(2026, 12, 3)) == outside
    assert refusal(roster, "vendor.kato", "hm-term-01", on=date(2026, 3, 31)) == outside


@pytest.mark.parametrize(
    ("text", "mode", "reason"),
    [
        (None, 0o644, f"no roster: {CITY}.toml is missing"),
        (ROSTER, 0o664, f"no roster: {CITY}.toml is writable by others than its owner"),
        (ROSTER, 0o646, f"no roster: {CITY}.toml is writable by others than its owner"),
        ("[[staff]\nid=", 0o644, f"no roster: {CITY}.toml is not readable TOML"),
        ("[[staff]]\nid = 'a.b'\nrole = 'x'\n", 0o644, f"no roster: {CITY}.toml: staff.0."),
    ],
    ids=["missing", "group-writable", "world-writable", "not-toml", "not-the-schema"],
)
def test_r26_without_a_sound_roster_every_act_is_refused(
    tmp_path: Path, text: str | None, mode: int, reason: str
) -> None:
    if text is None:
        roster = RosterFile(tmp_path / f"{CITY}.toml")
    else:
        roster = roster_file(tmp_path, text, mode)
    refused = refusal(roster, "hoken.sato", "hm-term-01")
    assert refused is not None
    field, why = refused
    assert field == "operator"
    assert why.startswith(reason)
    assert refusal(RosterFile(None), "hoken.sato", "hm-term-01") == (
        "operator",
        "no roster: no roster folder is set",
    )
    assert no_roster().refusal(HEALTH_CLERK, ("S19-16",), DAY) is not None


def test_r18_the_roster_is_read_again_when_it_changes(tmp_path: Path) -> None:
    roster = roster_file(tmp_path)
    assert refusal(roster, "hoken.sato", "hm-term-01") is None
    leaver = ROSTER.replace(
        'id = "hoken.sato"\ndepartment = "health-promotion"',
        'id = "hoken.sato"\ndepartment = "health-promotion"\ndisabled_on = 2026-12-01',
    )
    roster_file(tmp_path, leaver)
    assert refusal(roster, "hoken.sato", "hm-term-01") == ("operator", "the account is disabled")


def test_the_stacks_demo_roster_names_both_clerks_at_their_terminals(tmp_path: Path) -> None:
    roster = roster_file(tmp_path, roster_toml())
    for clerk in (HEALTH_CLERK, COUNTER_CLERK):
        assert refusal(roster, clerk.operator, clerk.terminal, procedures=("B2-115-2",)) is None


def result_rows(root: Path, folder: str, name: str) -> list[list[str]]:
    text = (root / folder / "results" / f"{Path(name).stem}.result.csv").read_text()
    return [row for row in csv.reader(io.StringIO(text)) if row and not row[0].startswith("#")]


async def test_r16_r29_r31_the_health_edge_sends_only_the_acts_it_may_and_logs_each(
    tmp_path: Path,
) -> None:
    recorder, acts = Recorder(), MemoryActLog()
    health = HealthMgmt(cast(Bridge, recorder), MemoryResidents(), OutFolder(tmp_path))
    edge = HealthMgmtEdge(health, tmp_path, roster_file(tmp_path), acts, lambda: DAY).prepare()
    people = Town(CITY, seed=5).residents(5)
    made_by = [
        HEALTH_CLERK,
        Act("suzuki.k", "hm-term-01"),  # disabled
        Act("hoken.sato", "home-laptop"),  # unlisted terminal
        Act("zei.tanaka", "hm-term-01"),  # the tax department
        Act("vendor.kato", "hm-term-01"),  # a contractor past its period
    ]
    rows = [
        {"operator": a.operator, "terminal": a.terminal} | p
        for a, p in zip(made_by, people, strict=True)
    ]
    drop(tmp_path, "residents", "day.csv", rows_csv(rows))
    # A file with no operator and terminal columns: every row refused, nothing sent.
    drop(tmp_path, "inquiries", "ask.csv", rows_csv([{"person": "1", "provider": OTHER}]))

    assert await edge.poll() == 2

    sent = {(kind, op) for (kind, *_), op in zip(recorder.sent, recorder.operators, strict=True)}
    assert ("fukuhon_registration", HEALTH_CLERK.operator) in sent
    assert ("inquiry_request", None) not in sent
    assert {op for op in recorder.operators if op is not None} == {HEALTH_CLERK.operator}
    problems = result_rows(tmp_path, "residents", "day.csv")[1:]
    assert [(line, field) for line, field, _ in problems] == [
        ("3", "operator"),
        ("4", "terminal"),
        ("5", "operator"),
        ("6", "operator"),
    ]
    assert result_rows(tmp_path, "inquiries", "ask.csv")[1:3] == [
        ["2", "operator", "required: the staff account that made the row"],
        ["2", "terminal", "required: the terminal the row was made at"],
    ]
    logged = {(op, e.line): e for (op, _, _), e in acts.entries.items()}
    assert logged["residents", 2].outcome == "taken"
    assert [logged["residents", n].outcome for n in range(3, 7)] == ["refused"] * 4
    assert logged["residents", 3].reason == "operator: the account is disabled"
    assert (logged["residents", 4].operator, logged["residents", 4].terminal) == (
        "hoken.sato",
        "home-laptop",
    )
    assert logged["inquiries", 2].operator is None
    # The act log and the result files hold who and where, never the person's data.
    text = repr(list(acts.entries.values())) + repr(problems)
    for person in people:
        for item in ("my_number", "name", "address", "birth_date"):
            assert str(person[item]) not in text


async def test_r02_r26_a_transfer_request_from_an_unlisted_terminal_is_refused(
    tmp_path: Path,
) -> None:
    recorder, book, acts = Recorder(), MemoryVrsBook(), MemoryActLog()
    vrs = Vrs(cast(Bridge, recorder), book, cast(Any, None), True, cast(Any, None), CHIKUSEI_BODY)
    registration = example_payload("target_registration")
    assert isinstance(registration, TargetRegistration)
    mover = Town(CITY, seed=6).residents(1)[0]
    moved_in = {key: mover[key] for key in ("my_number", "basic_code", "ticket_number")}
    await book.put_target(registration.targets[0].model_dump() | moved_in)
    edge = VrsEdge(vrs, tmp_path, roster_file(tmp_path), acts, lambda: DAY).prepare()
    drop(
        tmp_path,
        "transfer_in",
        "counter.csv",
        transfer_requests([mover], OTHER, Act(COUNTER_CLERK.operator, "kiosk-9")),
    )

    assert await edge.poll() == 1

    assert recorder.sent == []
    assert result_rows(tmp_path, "transfer_in", "counter.csv")[1] == [
        "2",
        "terminal",
        "not on the city's terminal allow-list",
    ]
    ((_, entry),) = acts.entries.items()
    assert (entry.outcome, entry.terminal) == ("refused", "kiosk-9")
