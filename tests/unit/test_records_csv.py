"""CSV batches of 予診票 results: both encodings, both header spellings, era dates, and
every bad row reported with its line, field and reason while the good rows go through."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from adapters.health_mgmt.records_csv import COLUMNS, read_batch, result_csv
from contracts.examples import example_payload

GOOD = {
    k: ("" if v is None else str(v))
    for k, v in example_payload("vaccination_record").model_dump(mode="json").items()
    if k != "kind"
}
PHONE = GOOD["phone"]


def csv_bytes(
    rows: list[dict[str, str]],
    *,
    japanese: bool = False,
    encoding: str = "utf-8",
    acts: bool = False,
) -> bytes:
    """A batch of `rows` under the layout's header (in Japanese, `japanese`); with `acts`,
    the 操作者 and 端末 columns first (each row's `operator` and `terminal`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    spelled = dict(COLUMNS) | {"operator": "操作者", "terminal": "端末"}
    names = ["operator", "terminal", *COLUMNS] if acts else list(COLUMNS)
    writer.writerow([spelled[n] for n in names] if japanese else names)
    for row in rows:
        writer.writerow([row.get(n, "") for n in names])
    return out.getvalue().encode(encoding)


def test_a_good_file_in_either_encoding_and_header_spelling_is_read_whole() -> None:
    for japanese, encoding, expected in [
        (False, "utf-8", "utf-8"),
        (True, "utf-8-sig", "utf-8"),
        (True, "cp932", "cp932"),
    ]:
        batch = read_batch(csv_bytes([GOOD, GOOD], japanese=japanese, encoding=encoding))
        assert batch.errors == []
        assert batch.encoding == expected
        assert [line for line, _ in batch.records] == [2, 3]
        assert batch.records[0][1] == example_payload("vaccination_record")


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("2025-10-20", date(2025, 10, 20)),
        ("2025/10/20", date(2025, 10, 20)),
        ("20251020", date(2025, 10, 20)),
        ("R7.10.20", date(2025, 10, 20)),
        ("令和7年10月20日", date(2025, 10, 20)),
    ],
)
def test_dates_in_every_accepted_form(cell: str, expected: date) -> None:
    batch = read_batch(csv_bytes([GOOD | {"administered_on": cell, "subsidy_date": cell}]))
    assert batch.errors == []
    assert batch.records[0][1].administered_on == expected


def test_era_dates_outside_their_era_are_refused() -> None:
    for cell in ("R1.4.30", "H31.5.1", "H1.1.7", "R7.2.30"):
        batch = read_batch(csv_bytes([GOOD | {"vaccine_expiry": cell}]))
        assert [(e.line, e.field) for e in batch.errors] == [(2, "vaccine_expiry")], cell
    assert read_batch(csv_bytes([GOOD | {"vaccine_expiry": "H31.4.30"}])).records


def test_bad_rows_are_named_and_the_good_rows_around_them_survive() -> None:
    rows = [
        GOOD,
        GOOD | {"administered_on": "tomorrow-ish"},
        GOOD | {"fiscal_year": "2019"},
        GOOD | {"vaccine_type": "SMALLPOX", "phone": "not a phone " + PHONE},
        GOOD | {"lot_number": ""},
        GOOD,
        GOOD | {"medical_institution": "08112345"},
    ]
    batch = read_batch(csv_bytes(rows))
    assert [line for line, _ in batch.records] == [2, 7]
    found = {(e.line, e.field) for e in batch.errors}
    assert (3, "administered_on") in found
    assert (4, "row") in found  # the fiscal year disagrees with the date: a row rule
    assert (5, "vaccine_type") in found
    assert (5, "phone") in found
    assert (6, "row") in found  # given, but no lot number
    assert (8, "medical_institution") in found
    assert batch.bad_lines == 5
    report = result_csv(batch, "batch-001.csv")
    assert report.startswith("# file,batch-001.csv\n# encoding,utf-8\n# accepted rows,2\n")
    assert "# rejected rows,5\n" in report
    assert PHONE not in report  # reasons never quote a cell
    assert "SMALLPOX" not in report


def test_header_and_shape_problems() -> None:
    assert [e.field for e in read_batch(b"").errors] == ["header"]
    unknown = read_batch(b"basic_code,shoe_size\r\n1,2\r\n")
    assert [(e.line, e.field) for e in unknown.errors] == [(1, "column 2")]
    twice = read_batch("basic_code,基本コード\r\n1,1\r\n".encode())
    assert [(e.line, e.field) for e in twice.errors] == [(1, "basic_code")]
    short = read_batch(csv_bytes([GOOD]) + b"1,2,3\r\n")
    assert [(e.line, e.field) for e in short.errors] == [(3, "row")]
    assert short.records
    assert read_batch(b"\x81\x20\xff").errors[0].field == "file"


def test_blank_lines_are_skipped_and_a_quoted_cell_may_span_lines() -> None:
    data = csv_bytes([GOOD | {"remarks": "一行目\n二行目"}, GOOD]) + b"\r\n\r\n"
    batch = read_batch(data)
    assert batch.errors == []
    assert batch.records[0][1].remarks == "一行目\n二行目"
    assert [line for line, _ in batch.records] == [3, 4]
