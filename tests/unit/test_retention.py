"""Retention's pure parts: each message's period from the settings and the permitted-inquiry
list, which groups of journal rows are due and from when, the report by kind and age, and
which of health management's files are due."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.health_mgmt.retention import due_files, remove
from hub.retention import (
    Cutoff,
    PayloadGroup,
    Period,
    Periods,
    Pruned,
    age_text,
    cutoffs,
    merged,
    report,
)
from hub.settings import Settings
from routing.policy import ROW_COLUMNS, load_policy, parse_policy
from stack.prune import file_ages, file_cutoffs, years_before

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
SAMPLE = load_policy(Settings().routing.directory())
HEADER = ",".join(ROW_COLUMNS) + "\n"
FLAGS = "provider_system,provider_org,procedure,data_item,department\n"


def periods(policy_rows: str = "", **retention: float) -> Periods:
    settings = Settings.model_validate({"retention": retention}) if retention else Settings()
    policy = parse_policy(HEADER + policy_rows, FLAGS) if policy_rows else SAMPLE
    return Periods.of(policy, settings)


def row(item: str, days: int, direction: str = "transfer") -> str:
    return f"S19-16,19-16,,{item},{direction},vrs,*,health_mgmt,*,2021-02-17,,{days}\n"


# --- periods ---------------------------------------------------------------------------


def test_under_the_sample_list_the_transport_period_is_the_shortest_for_a_dose() -> None:
    # The sample's rows keep what they carry 5 or 7 years (the systems of record's periods):
    # the hub's copy goes long before, after its transport period.
    period = periods().of_message("dose_record", "deliver", "S19-16", ["covid.dose"])
    assert period == Period(timedelta(days=30), "transport")
    assert period.label() == "older than 30 d (transport)"


def test_a_list_row_shorter_than_the_transport_period_sets_it() -> None:
    listed = periods(row("covid.dose", 10))
    assert listed.of_message("dose_record", "deliver", "S19-16", ["covid.dose"]) == Period(
        timedelta(days=10), "list"
    )
    # The message's other item has no row: the shortest of those that apply still wins.
    assert listed.of_message(
        "dose_record", "hold", "S19-16", ["covid.dose", "covid.target"]
    ) == Period(timedelta(days=10), "list")
    # Another procedure's rows are not this message's.
    assert listed.of_message("dose_record", "deliver", "B1-10", ["covid.dose"]).source == (
        "transport"
    )


def test_of_several_rows_for_one_procedure_and_item_the_shortest_holds() -> None:
    two = row("covid.dose", 20, "transfer") + row("covid.dose", 12, "inquiry")
    assert periods(two).listed[("S19-16", "covid.dose")] == timedelta(days=12)


def test_an_inquirys_messages_go_with_its_result_r42() -> None:
    for kind in ("inquiry_request", "provision_permit", "provision_response", "inquiry_result"):
        period = periods().of_message(kind, "deliver", "B2-115-2", ["vaccination.history"])
        assert period == Period(timedelta(hours=72), "R42")
    assert periods().of_message("inquiry_result", "deliver", None, []).label() == (
        "older than 72 h (R42)"
    )


def test_a_refused_message_takes_the_refused_period_whatever_the_list_says() -> None:
    listed = periods(row("covid.dose", 2))
    refused = listed.of_message("dose_record", "reject", "S19-16", ["covid.dose"])
    assert refused == Period(timedelta(days=7), "refused")
    assert listed.of_message(None, "reject", None, []) == refused


def test_the_settings_set_the_transport_and_refused_periods() -> None:
    set_ = periods(transport_days=3, refused_days=1)
    assert set_.of_message("dose_record", "deliver", "S19-16", ["covid.dose"]) == Period(
        timedelta(days=3), "transport"
    )
    assert set_.shortest() == timedelta(days=1)


# --- which rows are due ----------------------------------------------------------------


def group(kind: str, oldest: timedelta, decision: str = "deliver", **fields: str) -> PayloadGroup:
    return PayloadGroup(
        kind=kind,
        decision=decision,
        procedure=fields.get("procedure", "S19-16"),
        data_items=fields.get("items", "covid.dose"),
        rows=3,
        oldest=NOW - oldest,
    )


def test_only_groups_whose_oldest_row_is_past_its_period_are_due() -> None:
    young = group("dose_record", timedelta(days=29))
    old = group("dose_record", timedelta(days=31), items="covid.vaccination_record")
    result = group("inquiry_result", timedelta(hours=73), procedure="B2-115-2")
    refused = group("dose_record", timedelta(days=8), "reject")
    due = cutoffs([young, old, result, refused], periods(), NOW)
    assert [c.group for c in due] == [old, result, refused]
    assert [c.before for c in due] == [
        NOW - timedelta(days=30),
        NOW - timedelta(hours=72),
        NOW - timedelta(days=7),
    ]
    assert isinstance(due[0], Cutoff)


def test_a_group_journaled_without_data_items_takes_the_transport_period() -> None:
    unknown = PayloadGroup("dose_record", "deliver", "S19-16", None, 1, NOW - timedelta(days=31))
    assert unknown.items() == ()
    assert cutoffs([unknown], periods(row("covid.dose", 1)), NOW)[0].period.source == "transport"


# --- the report ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "text"),
    [
        (timedelta(days=2555), "7 y"),
        (timedelta(days=1825), "5 y"),
        (timedelta(days=30), "30 d"),
        (timedelta(hours=72), "72 h"),
        (timedelta(days=1), "24 h"),
        (timedelta(minutes=15), "15 min"),
        (timedelta(seconds=5), "5 s"),
    ],
)
def test_ages_read_as_a_person_reads_them(length: timedelta, text: str) -> None:
    assert age_text(length) == text


def test_the_report_adds_up_lines_of_one_kind_and_age_and_names_the_dry_run() -> None:
    age = "older than 30 d (transport)"
    lines = merged(
        [
            Pruned("dose_record", age, 1000, "payloads", NOW - timedelta(days=41)),
            Pruned("dose_record", age, 204, "payloads", NOW - timedelta(days=35)),
            Pruned("certificate_issued", age, 0, "payloads"),
        ]
    )
    assert lines[1] == Pruned("dose_record", age, 1204, "payloads", NOW - timedelta(days=41))
    printed = report(lines, NOW, dry_run=True)
    assert printed[0] == "would remove (dry run, nothing changed):"
    assert len(printed) == 2  # nothing of a kind with no count
    assert "dose_record" in printed[1]
    assert "older than 30 d (transport)" in printed[1]
    assert "1,204 payloads" in printed[1]
    assert printed[1].endswith("oldest 41 d")
    assert report([], NOW, dry_run=False) == ["nothing is past its retention period"]
    assert lines[1].audited() == {
        "what": "dose_record",
        "age": age,
        "count": 1204,
        "unit": "payloads",
    }


# --- health management's files -----------------------------------------------------------


def test_health_managements_files_are_due_by_kind_and_age(tmp_path: Path) -> None:
    cuts = file_cutoffs(Settings(), NOW)
    assert cuts["records"] == datetime(2021, 11, 26, 3, 0, tzinfo=UTC)
    assert cuts["inquiry_result"] == NOW - timedelta(hours=72)
    assert file_ages(Settings()) == {
        "records": "older than 5 y",
        "dose_record": "older than 5 y",
        "vaccination_export": "older than 5 y",
        "inquiry_result": "older than 72 h (R42)",
        "provision_record": "older than 7 y (R47)",
    }
    assert years_before(datetime(2028, 2, 29, tzinfo=UTC), 5) == datetime(2023, 2, 28, tzinfo=UTC)

    def written(relative: str, ago: timedelta) -> Path:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
        moment = (NOW - ago).timestamp()
        os.utime(path, (moment, moment))
        return path

    old_batch = written("records/done/batch-1.csv", timedelta(days=6 * 365))
    old_result = written("records/results/batch-1.result.csv", timedelta(days=6 * 365))
    written("records/done/batch-2.csv", timedelta(days=4 * 365))
    old_result_copy = written("out/inquiry_result/r.json", timedelta(hours=80))
    written("out/inquiry_result/young.json", timedelta(hours=10))
    written("residents/done/people.csv", timedelta(days=40 * 365))  # not a vaccination record
    written("out/print/run.csv", timedelta(days=40 * 365))
    due = due_files(tmp_path, cuts)
    assert due == {"records": [old_batch, old_result], "inquiry_result": [old_result_copy]}
    assert remove([*due["records"], old_batch]) == 2  # one gone already is no error
    assert not old_batch.exists()
