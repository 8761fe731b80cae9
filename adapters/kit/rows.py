"""CSV request files at an edge: every row checked against a pydantic model, every bad one
reported with its line, field and reason (never its cell), the good ones kept."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, NamedTuple, TypeVar

from pydantic import BaseModel, ValidationError

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


def read_rows(data: bytes, model: type[M]) -> Rows[M]:
    """Rows of a CSV file whose header names the model's fields (UTF-8 or CP932)."""
    found: Rows[M] = Rows()
    try:
        text, _ = decode(data)
    except ValueError as exc:
        found.errors.append(RowError(0, "file", str(exc)))
        return found
    reader = csv.DictReader(io.StringIO(text, newline=""))
    unknown = [n for n in reader.fieldnames or [] if n not in model.model_fields]
    if not reader.fieldnames or unknown:
        # Counted, not quoted: a file without its header has a data row there.
        found.errors.append(RowError(1, "header", f"{len(unknown)} column(s) not of the layout"))
        return found
    for cells in reader:
        values = {k: v.strip() for k, v in cells.items() if k and v and v.strip()}
        if not values:
            continue
        try:
            found.good.append((reader.line_num, model.model_validate(values)))
        except ValidationError as exc:
            found.errors += [
                RowError(reader.line_num, ".".join(map(str, e["loc"])) or "row", e["msg"])
                for e in exc.errors(include_input=False, include_url=False)
            ]
    return found


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


def rows_csv(rows: Sequence[Mapping[str, object]]) -> bytes:
    """A request file of `rows` (UTF-8, a header of the first row's keys): what the systems
    and the simulators drop in a folder."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()
