"""CSV batches of returned 予診票 results (F3): the 27 items of 別添1, one row per dose.

Column layout (a header row is required; columns may come in any order, unknown ones are
an error, optional ones may be left out): each column is named by the `VaccinationRecord`
field or by its 別添1 item name, as in `COLUMNS`. Cells hold the payload's values:
codes as in contracts/payloads.py (e.g. `routine`, `intramuscular`), dates as
`2021-06-01`, `2021/6/1`, `20210601` or a Japanese era date (`R3.6.1`, `令和3年6月1日`,
`H31.4.30`), decimals with a dot. An empty cell is "not given".

The file may be UTF-8 (with or without BOM) or Shift_JIS (CP932). Every row is checked on
its own: a bad row is reported with its line, field and reason and never stops the good
rows; reasons never quote the cell (it may hold personal data).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date
from uuid import UUID

from pydantic import ValidationError

from adapters.kit.acts import ACT_COLUMNS, Act, ActCheck
from adapters.kit.rows import RowError, Tally, decode
from contracts.payloads import VaccinationRecord

__all__ = ["COLUMNS", "Batch", "read_batch", "result_csv"]

# Field name -> 別添1 item name; the header may use either.
COLUMNS: dict[str, str] = {
    "basic_code": "基本コード",
    "vaccine_type": "接種種類",
    "dose_number": "接種回数",
    "dose_stage": "期",
    "fiscal_year": "接種年度",
    "administered_on": "接種年月日",
    "screening_physician": "予診医コード",
    "administering_physician": "接種医コード",
    "venue": "接種会場コード",
    "medical_institution": "医療機関コード",
    "category": "接種区分",
    "unsuitable_reason": "接種不適当区分",
    "certificate_issued": "接種済証発行区分",
    "dose_volume_ml": "接種量",
    "site": "接種部位",
    "route": "接種方法",
    "manufacturer": "メーカー",
    "product_name": "ワクチン名",
    "lot_number": "ロットNO",
    "vaccine_expiry": "有効期限",
    "disease_history": "罹患区分",
    "illness_date": "罹患年月日",
    "subsidy_category": "助成区分",
    "subsidy_date": "助成年月日",
    "subsidy_amount_jpy": "助成金額",
    "billing_month": "請求年月",
    "remarks": "備考",
    "other_municipality": "他市町村接種区分",
    "phone": "電話番号",
}
_BY_NAME = {name: name for name in COLUMNS} | {item: name for name, item in COLUMNS.items()}
# Who made the row and where (adapters/kit/acts.py), when the edge asks for them.
_ACT_NAMES = {"operator": "operator", "操作者": "operator"} | {
    "terminal": "terminal",
    "端末": "terminal",
}
_DATES = {"administered_on", "vaccine_expiry", "illness_date", "subsidy_date"}
# Era -> (the year before its first, its first day, its last day).
_ERAS = {
    "R": (2018, date(2019, 5, 1), date(9999, 12, 31)),
    "H": (1988, date(1989, 1, 8), date(2019, 4, 30)),
    "S": (1925, date(1926, 12, 25), date(1989, 1, 7)),
}
_ERAS |= {"令和": _ERAS["R"], "平成": _ERAS["H"], "昭和": _ERAS["S"]}
_ERA_DATE = re.compile(r"^(R|H|S|令和|平成|昭和)\s*(\d{1,2}|元)[./年](\d{1,2})[./月](\d{1,2})日?$")
_PLAIN_DATE = re.compile(r"^(\d{4})[-/]?(\d{1,2})[-/]?(\d{1,2})$")


@dataclass
class Batch:
    """What a file held: the good rows (with their lines) and every problem found."""

    records: list[tuple[int, VaccinationRecord]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    encoding: str = "utf-8"
    acts: dict[int, Act] = field(default_factory=dict)
    """Each line's act (who made it, where), good or refused, where it was well formed."""
    lines: list[int] = field(default_factory=list)
    """Every data line read."""
    batch: UUID | None = None
    """The batch's id once sent (`edge.batch_id`): its rows' correlation id."""

    @property
    def bad_lines(self) -> int:
        """How many rows had at least one problem."""
        return len({e.line for e in self.errors})

    @property
    def tally(self) -> Tally:
        """The rows taken in and refused, as the result file says."""
        return Tally(len(self.records), self.bad_lines)


def read_batch(data: bytes, check: ActCheck | None = None) -> Batch:
    """Check every row of a CSV batch; the good ones and the problems with the rest. With
    a `check`, each row's `operator` and `terminal` too (`操作者`, `端末`)."""
    try:
        text, encoding = decode(data)
    except ValueError as exc:
        return Batch(errors=[RowError(0, "file", str(exc))])
    batch = Batch(encoding=encoding)
    rows = csv.reader(io.StringIO(text, newline=""))
    header = next(rows, None)
    columns, problems = _columns(header, acts=check is not None)
    if problems:
        batch.errors += problems
        return batch
    # The reader's line_num is the file line a row ends on (a quoted cell may span lines).
    for cells in rows:
        if not any(cell.strip() for cell in cells):
            continue
        line = rows.line_num
        batch.lines.append(line)
        record, errors = _row(line, columns, cells, check, batch.acts)
        batch.errors += errors
        if record is not None:
            batch.records.append((line, record))
    return batch


def _columns(header: list[str] | None, *, acts: bool) -> tuple[list[str], list[RowError]]:
    if not header:
        return [], [RowError(1, "header", "the file is empty; a header row is required")]
    names, errors = [], []
    known = _BY_NAME | _ACT_NAMES if acts else _BY_NAME
    for position, raw in enumerate(header, start=1):
        name = known.get(raw.strip())
        if name is None:
            errors.append(RowError(1, f"column {position}", "not a column of the layout"))
        elif name in names:
            errors.append(RowError(1, name, "the column appears twice"))
        names.append(name or "")
    return names, errors


def _row(
    line: int,
    columns: list[str],
    cells: list[str],
    check: ActCheck | None,
    acts: dict[int, Act],
) -> tuple[VaccinationRecord | None, list[RowError]]:
    if len(cells) != len(columns):
        reason = f"{len(cells)} cells for {len(columns)} columns"
        return None, [RowError(line, "row", reason)]
    values: dict[str, object] = {}
    errors = []
    if check is not None:
        act, problems = check.take(
            {n: c for n, c in zip(columns, cells, strict=True) if n in ACT_COLUMNS}
        )
        if act is not None:
            acts[line] = act
        errors += [RowError(line, name, reason) for name, reason in problems]
    for name, cell in zip(columns, cells, strict=True):
        text = cell.strip()
        if not text or name in ACT_COLUMNS:
            continue
        if name in _DATES:
            parsed = _date(text)
            if parsed is None:
                errors.append(RowError(line, name, "not a date (2021-06-01, R3.6.1, ...)"))
                continue
            values[name] = parsed.isoformat()
        else:
            values[name] = text
    if errors:
        return None, errors
    try:
        return VaccinationRecord.model_validate({"kind": "vaccination_record", **values}), []
    except ValidationError as exc:
        return None, [
            RowError(line, ".".join(str(p) for p in e["loc"]) or "row", e["msg"])
            for e in exc.errors(include_input=False, include_url=False)
        ]


def _date(text: str) -> date | None:
    try:
        if match := _PLAIN_DATE.match(text):
            return date(int(match[1]), int(match[2]), int(match[3]))
        if match := _ERA_DATE.match(text):
            base, first, last = _ERAS[match[1]]
            year = 1 if match[2] == "元" else int(match[2])
            day = date(base + year, int(match[3]), int(match[4]))
            return day if first <= day <= last else None
    except ValueError:
        return None
    return None


def result_csv(batch: Batch, source: str) -> str:
    """The result file for a batch: a summary, then each problem with line, field, reason."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["# file", source])
    writer.writerow(["# encoding", batch.encoding])
    writer.writerow(["# accepted rows", len(batch.records)])
    writer.writerow(["# rejected rows", batch.bad_lines])
    writer.writerow(["line", "field", "reason"])
    for error in batch.errors:
        writer.writerow([error.line, error.field, error.reason])
    return out.getvalue()
