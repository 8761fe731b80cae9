"""CSV request files at an edge: every row checked against a pydantic model, every bad one
reported with its line, field and reason (never its cell), the good ones kept."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, NamedTuple, TypeVar

from pydantic import BaseModel, ValidationError

from adapters.kit.acts import ACT_COLUMNS, Act, ActCheck

__all__ = ["RowError", "Rows", "Tally", "decode", "read_rows", "rows_csv", "rows_result", "tally"]

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem with one row: its line in the file, the field, the reason."""

    line: int
    field: str
    reason: str


class Tally(NamedTuple):
    """How many rows of a file were taken in and how many refused, as its result file
    says (a row with several problems is one refused row)."""

    imported: int
    refused: int


def decode(data: bytes) -> tuple[str, str]:
    """(text, encoding): UTF-8 (BOM or not) if it decodes, else CP932; ValueError if neither."""
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return data.decode(encoding), "utf-8" if encoding == "utf-8-sig" else encoding
        except UnicodeDecodeError:
            continue
    raise ValueError("file: neither UTF-8 nor Shift_JIS (CP932)")


@dataclass
class Rows(Generic[M]):
    """The good rows of a file, with their lines, and every problem found."""

    good: list[tuple[int, M]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    acts: dict[int, Act] = field(default_factory=dict)
    """Each line's act (who made it, where), good or refused, where it was well formed."""
    lines: list[int] = field(default_factory=list)
    """Every data line read."""

    def act_of(self, line: int) -> str | None:
        """The operator of a line, for `sender.operator`."""
        act = self.acts.get(line)
        return None if act is None else act.operator


def read_rows(data: bytes, model: type[M], check: ActCheck | None = None) -> Rows[M]:
    """Rows of a CSV file whose header names the model's fields (UTF-8 or CP932); with a
    `check`, also the `operator` and `terminal` of each row, which must pass it."""
    found: Rows[M] = Rows()
    try:
        text, _ = decode(data)
    except ValueError as exc:
        found.errors.append(RowError(0, "file", str(exc)))
        return found
    reader = csv.DictReader(io.StringIO(text, newline=""))
    known = {*model.model_fields, *(ACT_COLUMNS if check is not None else ())}
    unknown = [n for n in reader.fieldnames or [] if n not in known]
    if not reader.fieldnames or unknown:
        # Counted, not quoted: a file without its header has a data row there.
        found.errors.append(RowError(1, "header", f"{len(unknown)} column(s) not of the layout"))
        return found
    for cells in reader:
        values = {k: v.strip() for k, v in cells.items() if k and v and v.strip()}
        if not values:
            continue
        line = reader.line_num
        found.lines.append(line)
        problems = _act_problems(found, line, values, check)
        try:
            row = model.model_validate(values)
        except ValidationError as exc:
            problems += [
                RowError(line, ".".join(map(str, e["loc"])) or "row", e["msg"])
                for e in exc.errors(include_input=False, include_url=False)
            ]
            row = None
        if row is None or problems:
            found.errors += problems
        else:
            found.good.append((line, row))
    return found


def _act_problems(
    found: Rows[M], line: int, values: dict[str, str], check: ActCheck | None
) -> list[RowError]:
    if check is None:
        return []
    act, problems = check.take(values)
    if act is not None:
        found.acts[line] = act
    return [RowError(line, name, reason) for name, reason in problems]


def tally(rows: Rows[M], refused: Sequence[RowError] = ()) -> Tally:
    """The rows of a file taken in and refused: its good rows but those the system then
    `refused`, and every line with a problem."""
    return Tally(
        len(rows.good) - len({e.line for e in refused}),
        len({e.line for e in [*rows.errors, *refused]}),
    )


def rows_result(rows: Rows[M], source: str, refused: list[RowError] | None = None) -> str:
    """The result file: a summary, then each problem with line, field and reason."""
    errors = rows.errors + (refused or [])
    counted = tally(rows, refused or [])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["# file", source])
    writer.writerow(["# accepted rows", counted.imported])
    writer.writerow(["# rejected rows", counted.refused])
    writer.writerow(["line", "field", "reason"])
    for error in errors:
        writer.writerow([error.line, error.field, error.reason])
    return out.getvalue()


def rows_csv(rows: Sequence[Mapping[str, object]], by: Act | None = None) -> bytes:
    """A request file of `rows` (UTF-8, a header of the first row's keys): what the systems
    and the simulators drop in a folder; each row made `by` that act, when given, unless it
    names its own `operator` and `terminal`."""
    if by is not None:
        rows = [{"operator": by.operator, "terminal": by.terminal} | dict(row) for row in rows]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()
