"""The routing policy as data: the permitted-inquiry list, the auto-response flags and the
manual imports.

A policy is a directory of two CSV files and an optional third:

- `permitted.csv`, the permitted-inquiry list (照会許可用照合リスト): per procedure and
  data item, which system of which municipality may ask (inquirer) which other (provider),
  in which direction, in which validity window;
- `auto_response_disabled.csv`, the auto-response-disabled flags (自動応答不可フラグ): the
  (provider, procedure, data item) combinations whose provisions wait for a 所属長;
- `manual_imports.csv` (optional), the manual imports (R01 「担当者間の二重チェック及び
  上長のチェック」): the (sender, procedure, data item) combinations that, when a person
  made the sending system send them (`sender.operator`), are held until two operators
  have checked them and a 所属長 of the department has signed off.

Loading checks every row and reports every bad one with its file and line; the version is
a hash of the content, recorded with every decision made under it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TypeVar

from contracts.codes import CodeError, DataItemCode, LocalGovCode, ProcedureCode, SystemId

__all__ = [
    "ANY",
    "DIRECTIONS",
    "MANUAL_IMPORT_COLUMNS",
    "Flag",
    "HoldRule",
    "ManualImport",
    "Policy",
    "PolicyError",
    "Row",
    "load_policy",
    "parse_policy",
]

B = TypeVar("B")
T = TypeVar("T")
ANY = "*"
DIRECTIONS = ("inquiry", "provision", "transfer")
PERMITTED = "permitted.csv"
FLAGS = "auto_response_disabled.csv"
MANUAL_IMPORTS = "manual_imports.csv"
ROW_COLUMNS = (
    "procedure",
    "article",
    "beppyo2_item",
    "data_item",
    "direction",
    "inquirer_system",
    "inquirer_org",
    "provider_system",
    "provider_org",
    "effective_from",
    "effective_to",
    "retention_days",
)
FLAG_COLUMNS = ("provider_system", "provider_org", "procedure", "data_item", "department")
MANUAL_IMPORT_COLUMNS = ("sender_system", "sender_org", "procedure", "data_item", "department")
_DEPARTMENT = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")


class PolicyError(ValueError):
    """A policy file has bad rows; `problems` lists each as `file:line: field: reason`."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Row:
    """One row of the permitted-inquiry list. For `transfer` (a system handing data to
    another system of the same municipality), the inquirer is the sender and the provider
    the recipient."""

    line: int
    procedure: str
    article: str
    beppyo2_item: str
    data_item: str
    direction: str
    inquirer_system: SystemId
    inquirer_org: str
    provider_system: SystemId
    provider_org: str
    effective_from: date
    effective_to: date | None
    retention_days: int

    def valid_on(self, day: date) -> bool:
        """True if `day` is in [effective_from, effective_to]."""
        return self.effective_from <= day and (
            self.effective_to is None or day <= self.effective_to
        )

    def key(self) -> tuple[str, str, str, str, str, str, str]:
        """What a contradicting or repeated row would share."""
        return (
            self.procedure,
            self.data_item,
            self.direction,
            self.inquirer_system.value,
            self.inquirer_org,
            self.provider_system.value,
            self.provider_org,
        )


@dataclass(frozen=True, slots=True)
class HoldRule:
    """A row that holds what one system of one organization sends under a procedure of a
    data item, for a department's people: an auto-response-disabled flag (`Flag`: the
    provider's replies wait for the department's 所属長) or a manual import
    (`ManualImport`, R01: what the sender sends when a person made it send it waits for
    two of the department's operators' checks and its 所属長's sign-off)."""

    line: int
    system: SystemId
    org: str
    procedure: str
    data_item: str
    department: str
    """The department whose staff decide (staff are bound to one)."""

    def covers(self, system: SystemId, org: str, procedure: str, data_item: str) -> bool:
        """True if the rule applies to this system's message of the procedure and item."""
        return (
            self.system == system
            and self.org in (ANY, org)
            and self.procedure == procedure
            and self.data_item == data_item
        )


Flag = HoldRule
"""An auto-response-disabled flag (自動応答不可フラグ): its system and org the provider's."""
ManualImport = HoldRule
"""A manual import (R01): its system and org the sender's."""


@dataclass(frozen=True, slots=True)
class Policy:
    """A loaded policy; `version` is the hash every decision records."""

    version: str
    rows: tuple[Row, ...]
    flags: tuple[Flag, ...]
    manual_imports: tuple[ManualImport, ...] = ()
    _index: dict[tuple[str, str], list[Row]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        # decide() looks rows up for every message: index them once.
        for row in self.rows:
            self._index.setdefault((row.procedure, row.data_item), []).append(row)

    def rows_for(self, procedure: str, data_item: str) -> list[Row]:
        """The list rows about one procedure and data item."""
        return self._index.get((procedure, data_item), [])


def load_policy(directory: Path) -> Policy:
    """Read and check a policy directory; PolicyError lists every bad row."""
    texts = {}
    for name in (PERMITTED, FLAGS):
        path = directory / name
        if not path.is_file():
            raise PolicyError([f"{path}: missing"])
        texts[name] = path.read_text(encoding="utf-8")
    manual = directory / MANUAL_IMPORTS
    imports = manual.read_text(encoding="utf-8") if manual.is_file() else None
    return parse_policy(texts[PERMITTED], texts[FLAGS], imports)


def parse_policy(permitted: str, flags: str, manual_imports: str | None = None) -> Policy:
    """Check and build a policy from the files' text (`manual_imports`: None where the
    policy has no such file)."""
    problems: list[str] = []
    rows = _records(PERMITTED, permitted, ROW_COLUMNS, problems, _row)
    flag_rows = _records(FLAGS, flags, FLAG_COLUMNS, problems, _flag)
    imports = (
        []
        if manual_imports is None
        else _records(MANUAL_IMPORTS, manual_imports, MANUAL_IMPORT_COLUMNS, problems, _import)
    )
    problems += _contradictions(rows)
    if problems:
        raise PolicyError(problems)
    digest = hashlib.sha256()
    # A policy without the third file keeps the version it had before there was one.
    for text in (
        (permitted, flags) if manual_imports is None else (permitted, flags, manual_imports)
    ):
        digest.update(text.replace("\r\n", "\n").encode("utf-8"))
        digest.update(b"\x00")
    return Policy(digest.hexdigest()[:16], tuple(rows), tuple(flag_rows), tuple(imports))


def _records(
    name: str,
    text: str,
    columns: tuple[str, ...],
    problems: list[str],
    build: Callable[[int, dict[str, str]], B],
) -> list[B]:
    # Comment lines (#) become blank lines, so csv's line numbers stay those of the file.
    cleaned = "".join("\n" if line.lstrip().startswith("#") else line for line in io.StringIO(text))
    reader = csv.reader(io.StringIO(cleaned))
    header: tuple[str, ...] | None = None
    built: list[B] = []
    for fields in reader:
        if not fields:
            continue
        line = reader.line_num
        if header is None:
            header = tuple(f.strip() for f in fields)
            if header != columns:
                problems.append(f"{name}:{line}: header must be {','.join(columns)}")
                return []
            continue
        if len(fields) != len(columns):
            problems.append(f"{name}:{line}: expected {len(columns)} fields, got {len(fields)}")
            continue
        try:
            built.append(build(line, dict(zip(columns, fields, strict=True))))
        except (CodeError, ValueError) as exc:
            problems.append(f"{name}:{line}: {exc}")
    if header is None:
        problems.append(f"{name}: empty, no header")
    return built


def _field(record: dict[str, str], name: str, parse: Callable[[str], T]) -> T:
    value = record[name].strip()
    try:
        return parse(value)
    except (CodeError, ValueError) as exc:
        raise ValueError(f"{name}: {exc}") from None


def _org(value: str) -> str:
    return ANY if value == ANY else str(LocalGovCode(value))


def _system(value: str) -> SystemId:
    try:
        return SystemId(value)
    except ValueError:
        raise ValueError(f"unknown system {value!r}") from None


def _direction(value: str) -> str:
    if value not in DIRECTIONS:
        raise ValueError(f"must be one of {', '.join(DIRECTIONS)}")
    return value


def _day(value: str) -> date | None:
    return date.fromisoformat(value) if value else None


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError("must be at least 1")
    return number


def _row(line: int, record: dict[str, str]) -> Row:
    start = _field(record, "effective_from", _day)
    end = _field(record, "effective_to", _day)
    if start is None:
        raise ValueError("effective_from: required")
    if end is not None and end < start:
        raise ValueError("effective_to: earlier than effective_from")
    return Row(
        line=line,
        procedure=str(_field(record, "procedure", ProcedureCode)),
        article=record["article"].strip(),
        beppyo2_item=record["beppyo2_item"].strip(),
        data_item=str(_field(record, "data_item", DataItemCode)),
        direction=_field(record, "direction", _direction),
        inquirer_system=_field(record, "inquirer_system", _system),
        inquirer_org=_field(record, "inquirer_org", _org),
        provider_system=_field(record, "provider_system", _system),
        provider_org=_field(record, "provider_org", _org),
        effective_from=start,
        effective_to=end,
        retention_days=_field(record, "retention_days", _positive),
    )


def _flag(line: int, record: dict[str, str]) -> Flag:
    return _hold_rule(line, record, "provider")


def _import(line: int, record: dict[str, str]) -> ManualImport:
    return _hold_rule(line, record, "sender")


def _hold_rule(line: int, record: dict[str, str], party: str) -> HoldRule:
    return HoldRule(
        line=line,
        system=_field(record, f"{party}_system", _system),
        org=_field(record, f"{party}_org", _org),
        procedure=str(_field(record, "procedure", ProcedureCode)),
        data_item=str(_field(record, "data_item", DataItemCode)),
        department=_field(record, "department", _department),
    )


def _department(value: str) -> str:
    if not _DEPARTMENT.fullmatch(value):
        raise ValueError("must be a department id like 'health-promotion' (a-z, 0-9, . _ -)")
    return value


def _contradictions(rows: list[Row]) -> list[str]:
    # Two rows granting the same parties the same procedure, data item and direction over
    # overlapping windows are either a repeat or a contradiction (which retention holds?).
    problems = []
    for index, row in enumerate(rows):
        for other in rows[index + 1 :]:
            if row.key() != other.key() or not _overlap(row, other):
                continue
            what = "repeats" if row.retention_days == other.retention_days else "contradicts"
            problems.append(
                f"{PERMITTED}:{other.line}: {what} line {row.line} (same parties, procedure, "
                "data item and direction, overlapping validity)"
            )
    return problems


def _overlap(a: Row, b: Row) -> bool:
    a_end = a.effective_to or date.max
    b_end = b.effective_to or date.max
    return a.effective_from <= b_end and b.effective_from <= a_end
