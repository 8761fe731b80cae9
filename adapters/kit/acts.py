"""Who did each act at an edge, and from where (R16, R26/R27, R29/R31, R32–R34, R23).

Every row of a request file at the health-management and VRS edges names the staff account
that made it (`operator`) and the terminal it came from (`terminal`): an inquiry, a 副本
registration, a 予診票 row, a transfer-in request. The edge checks each against the
city's roster before anything is sent, and refuses the row (with the reason, never the
value) when the account is unknown, disabled, a contractor outside the roster period, its
department does not manage the folder's procedures, or the terminal is not on the city's
allow-list. The operator then travels in `sender.operator`, and every act, taken or
refused, is written to the edge's act log (`edge_acts`) with account, terminal, time,
operation and outcome.

The roster is a TOML file per city, `<roster_dir>/<code>.toml`, kept by the city's IT
(from its own staff directory), outside the drop folders, owned by the edge's account or
root and writable by its owner alone, in a folder only its owner may write (a roster
anybody could edit or replace is no roster): the edge refuses every act while it is
missing, unreadable or open to others. It is read again when it changes, so disabling a
leaver (R18) takes effect at the next look at the folders::

    [departments.health-promotion]          # 健康増進課
    procedures = ["B1-10", "B2-115-2", "S19-16"]

    [terminals]                             # the city's allow-list: id = what it is
    chk-hm-01 = "健康増進課 窓口端末 1"

    [[staff]]
    id = "sato.h"
    department = "health-promotion"

    [[staff]]                               # a leaver: refused from that day on
    id = "suzuki.k"
    department = "health-promotion"
    disabled_on = 2026-11-30

    [[staff]]                               # a contractor (F20): named, for a period
    id = "vendor.kato"
    department = "health-promotion"
    contractor = { company = "Example SI", person = "加藤", from = 2026-04-01, until = 2027-03-31 }
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import tomllib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Protocol
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from adapters.ports import ActEntry, ActLog, Row
from contracts.codes import writes_my_number
from contracts.envelope import StaffId

__all__ = [
    "ACT_COLUMNS",
    "Act",
    "ActCheck",
    "ActEntry",
    "ActGate",
    "MemoryActLog",
    "Roster",
    "RosterFile",
    "TerminalId",
    "act_entries",
    "guarded_file",
    "log_acts",
    "no_roster",
    "operator_of",
    "tokyo_today",
]

ACT_COLUMNS = ("operator", "terminal")
"""The two columns every request file row carries at the health-management and VRS edges."""

TerminalId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
"""A terminal's id on the city's allow-list (an asset tag, not an address)."""


@dataclass(frozen=True, slots=True)
class Act:
    """Who made one row of a request file, and from which terminal."""

    operator: str
    terminal: str


def tokyo_today() -> date:
    """Today in Japan: the day a roster's dates (a leaver's, a contractor's) are read in."""
    return datetime.now(_TOKYO).date()


_TOKYO = ZoneInfo("Asia/Tokyo")


def operator_of(acts: Mapping[int, Act], line: int) -> str | None:
    """The operator of a line, for `sender.operator` (None: no person made it)."""
    act = acts.get(line)
    return None if act is None else act.operator


def act_entries(
    lines: Iterable[int], acts: Mapping[int, Act], problems: Iterable[tuple[int, str, str]]
) -> list[ActEntry]:
    """The act log of a file: each line read with its act, taken unless a problem (line,
    field, reason) refused it (the first problem is its reason)."""
    first: dict[int, str] = {}
    for line, field, reason in problems:
        first.setdefault(line, f"{field}: {reason}")
    entries = []
    for line in lines:
        act = acts.get(line)
        refused = first.get(line)
        entries.append(
            ActEntry(
                line,
                None if act is None else act.operator,
                None if act is None else act.terminal,
                "taken" if refused is None else "refused",
                refused,
            )
        )
    return entries


class _Read(Protocol):
    """A file as an edge read it (`rows.Rows`, `records_csv.Batch`)."""

    lines: list[int]
    acts: dict[int, Act]
    errors: list[Any]


async def log_acts(
    act_log: ActLog, folder: str, data: bytes, read: _Read, refused: Iterable[Any] = ()
) -> None:
    """Write a file's act log: each line read, with the first problem (a `RowError`) the
    reading or the system found with it, if any."""
    problems = [(e.line, e.field, e.reason) for e in [*read.errors, *refused]]
    entries = act_entries(read.lines, read.acts, problems)
    await act_log.log(folder, hashlib.sha256(data).hexdigest(), entries)


class MemoryActLog:
    """An edge's act log in memory, for tests of the edges."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str, int], ActEntry] = {}

    async def log(self, operation: str, file_sha256: str, entries: Sequence[ActEntry]) -> None:
        """Keep each entry, the first for a line of a file standing."""
        for entry in entries:
            self.entries.setdefault((operation, file_sha256, entry.line), entry)

    async def rows(self) -> list[Row]:
        """Every entry, in the order kept, as `adapters.store.systems.PgActLog` reads
        them (without the time)."""
        return [
            {"operation": operation, "file_sha256": sha256} | asdict(entry)
            for (operation, sha256, _), entry in self.entries.items()
        ]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class Contractor(_Strict):
    """A contractor's roster entry (R23, F20): the company, the person, the period."""

    company: str = Field(min_length=1, max_length=200)
    person: str = Field(min_length=1, max_length=200)
    from_: date = Field(alias="from")
    until: date


class StaffEntry(_Strict):
    """One account: one person (R16), in one department, enabled until `disabled_on`."""

    id: StaffId
    department: StaffId
    disabled_on: date | None = None
    contractor: Contractor | None = None


class Department(_Strict):
    """The procedures (事務) a department manages (R28, R32)."""

    procedures: tuple[str, ...] = ()


class Roster(_Strict):
    """A city's roster: departments, the terminal allow-list, staff."""

    departments: dict[StaffId, Department] = {}
    terminals: dict[TerminalId, str] = {}
    staff: tuple[StaffEntry, ...] = ()

    def refusal(self, act: Act, procedures: Collection[str], on: date) -> tuple[str, str] | None:
        """(field, reason) when `act` may not be done for `procedures` on day `on`."""
        entry = next((s for s in self.staff if s.id == act.operator), None)
        if entry is None:
            return "operator", "not an account on the city's roster"
        if entry.disabled_on is not None and on >= entry.disabled_on:
            return "operator", "the account is disabled"
        if entry.contractor is not None and not (
            entry.contractor.from_ <= on <= entry.contractor.until
        ):
            return "operator", "the contractor's roster period does not cover this day"
        if act.terminal not in self.terminals:
            return "terminal", "not on the city's terminal allow-list"
        managed = self.departments.get(entry.department, Department()).procedures
        missing = sorted(set(procedures) - set(managed))
        if missing:
            return "operator", f"the account's department does not manage {', '.join(missing)}"
        return None


@dataclass(frozen=True)
class ActGate:
    """What the edge checks each row's act against: the roster (or why there is none)."""

    roster: Roster | None
    problem: str | None = None

    def refusal(self, act: Act, procedures: Collection[str], on: date) -> tuple[str, str] | None:
        """(field, reason) when the act is refused; every act while there is no roster."""
        if self.roster is None:
            return "operator", f"no roster: {self.problem or 'none set'}"
        return self.roster.refusal(act, procedures, on)


_OPERATOR = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")
_TERMINAL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class ActCheck:
    """The check of one request folder's rows: the roster, the procedures the folder sends
    under (the account's department must manage each), and the day."""

    gate: ActGate
    procedures: tuple[str, ...]
    on: date

    def take(self, cells: dict[str, str]) -> tuple[Act | None, list[tuple[str, str]]]:
        """The row's act, taken out of its cells, or the (field, reason) it is refused for."""
        operator, terminal = (cells.pop(name, "").strip() for name in ACT_COLUMNS)
        problems = []
        if not operator:
            problems.append(("operator", "required: the staff account that made the row"))
        elif not _OPERATOR.fullmatch(operator) or writes_my_number(operator):
            # Refused unkept: a My Number typed in the wrong column never reaches the log.
            problems.append(("operator", "not an account id (2-64 of a-z 0-9 . _ -)"))
        if not terminal:
            problems.append(("terminal", "required: the terminal the row was made at"))
        elif not _TERMINAL.fullmatch(terminal) or writes_my_number(terminal):
            problems.append(("terminal", "not a terminal id (1-64 of A-Z a-z 0-9 . _ -)"))
        if problems:
            return None, problems
        act = Act(operator, terminal)
        refused = self.gate.refusal(act, self.procedures, self.on)
        return (act, []) if refused is None else (act, [refused])


def no_roster(problem: str = "none set") -> ActGate:
    """A gate that refuses every act, saying why."""
    return ActGate(None, problem)


@dataclass
class RosterFile:
    """A city's roster file, read again whenever it changes."""

    path: Path | None
    _seen: tuple[int, int] | None = None
    _gate: ActGate | None = None

    def gate(self) -> ActGate:
        """The roster as the file holds it now, or a gate that refuses and says why."""
        if self.path is None:
            return no_roster("no roster folder is set")
        info, problem = guarded_file(self.path)
        if info is None:
            return no_roster(problem)
        seen = (info.st_mtime_ns, info.st_size)
        if self._gate is None or seen != self._seen:
            self._gate, self._seen = _read(self.path), seen
        return self._gate


def guarded_file(path: Path) -> tuple[os.stat_result, str] | tuple[None, str]:
    """A file a process trusts only if nobody else could have written it: its stat, or
    why not (missing, writable by others, in a folder others may write, owned by another
    account than this one or root)."""
    try:
        info, folder = path.stat(), path.parent.stat()
    except FileNotFoundError:
        return None, f"{path.name} is missing"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return None, f"{path.name} is writable by others than its owner"
    if folder.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return None, f"{path.name}'s folder is writable by others than its owner"
    if info.st_uid not in {0, os.getuid()}:
        return None, f"{path.name} belongs to neither this account nor root"
    return info, ""


def _read(path: Path) -> ActGate:
    try:
        return ActGate(Roster.model_validate(tomllib.loads(path.read_text(encoding="utf-8"))))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return no_roster(f"{path.name} is not readable TOML")
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(map(str, first["loc"])) or "roster"
        return no_roster(f"{path.name}: {where}: {first['msg']}")
