"""The health-management system's edge: the folders it shares with the system.

Request folders under the system's root, each with `inbox/` (a system or a person drops
`*.csv` there, written under another name and renamed, so a half-written file is never
picked up), `results/` (`<name>.result.csv`: accepted and rejected counts and every bad
row with line, field and reason, never the cell) and `done/` (the file, once answered):

    residents    the address system's residents (F1): `HealthMgmt.register_residents`,
                 then the print run of notices and 予診票 for the people due (F2, in
                 `out/print/`) and `HealthMgmt.register_targets`
    records      returned 予診票 results (F3): `HealthMgmt.record_doses`
    inquiries    `person,provider` rows (F6): `HealthMgmt.inquire`

Every row of those three also names the staff account that made it and its terminal
(`operator`, `terminal`), checked against the city's roster before anything is sent, and
every row, taken or refused, goes into the edge's act log (adapters/kit/acts.py).

`HealthMgmtEdge` serves those three for the bridge side (`bridge.HealthMgmt`), which
hands what is delivered to `OutFolder`: `out/<kind>/<message id>.json` as it came, the
VRS exports as Shift_JIS CSV in `out/vaccination_export/` (F13).

`DropFolder` is the 予診票 drop folder of `sesshu import records` (F3), with the same
three sub-folders: each good row becomes a `vaccination_record` whose message id is
stable for that file and line (`row_message_id`), so a batch interrupted by a crash is
simply processed again: rows already sent are duplicates the hub drops, nothing is lost
and nothing doubles.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from uuid import UUID

from adapters.health_mgmt.bridge import Due, HealthMgmt, InquiryRow, ResidentRow
from adapters.health_mgmt.export_csv import export_csv
from adapters.health_mgmt.records_csv import Batch, read_batch, result_csv
from adapters.kit import counts, folders
from adapters.kit.acts import ActCheck, RosterFile, log_acts, operator_of, tokyo_today
from adapters.kit.folders import Source
from adapters.kit.rows import Rows, read_rows, rows_result, tally
from adapters.ports import ActLog
from contracts.envelope import stable_message_id
from contracts.payloads import Payload, VaccinationExport, VaccinationRecord

__all__ = ["DropFolder", "HealthMgmtEdge", "OutFolder", "Publish", "row_message_id"]


# The procedures (事務) each folder's rows send under: the account's department must
# manage every one (R28, R32–R34).
PROCEDURES = {
    "residents": ("B2-115-2", "S19-16"),
    "records": ("B2-115-2",),
    "inquiries": ("B2-115-2",),
}


@dataclass(frozen=True)
class HealthMgmtEdge:
    """The residents, records and inquiries request folders under the system's root."""

    system: HealthMgmt
    root: Path
    roster: RosterFile
    acts: ActLog
    today: Callable[[], date] = tokyo_today

    def _check(self, folder: str) -> ActCheck:
        return ActCheck(self.roster.gate(), PROCEDURES[folder], self.today())

    def prepare(self) -> HealthMgmtEdge:
        """Create the request folders."""
        folders.prepare(self.root, ("residents", "records", "inquiries"))
        return self

    async def poll(self) -> int:
        """Handle every file waiting in the three inboxes; how many were handled."""
        return await folders.serve(
            self.root,
            {
                "residents": self.import_residents,
                "records": self.import_records,
                "inquiries": self.import_inquiries,
            },
        )

    async def import_residents(self, source: Source) -> str:
        """F1 (with F2, F5, F11, F16) for one residents file; its result file."""
        rows = read_rows(source.data, ResidentRow, self._check("residents"))
        due, refused = await self.system.register_residents(rows.good, source.stable_id, rows.acts)
        if due:
            # Printed before the people are marked registered: a file handled again after
            # a crash prints them again rather than never.
            OutFolder(self.root).print_run(due, Path(source.name).stem)
            await self.system.register_targets(due, source.stable_id, rows.acts)
        await log_acts(self.acts, "residents", source.data, rows, refused)
        counts.rows(self.system.bridge, tally(rows, refused))
        return rows_result(rows, source.name, refused)

    async def import_records(self, source: Source) -> str:
        """F3 then F4 for one 予診票 batch; its result file."""
        batch = read_batch(source.data, self._check("records"))
        refused = await self.system.record_doses(batch.records, source.stable_id, batch.acts)
        lines = {error.line for error in refused}
        batch.records = [(line, record) for line, record in batch.records if line not in lines]
        await log_acts(self.acts, "records", source.data, batch, refused)
        batch.errors += refused
        counts.rows(self.system.bridge, batch.tally)
        return result_csv(batch, source.name)

    async def import_inquiries(self, source: Source) -> str:
        """F6 for one inquiries file; its result file."""
        rows: Rows[InquiryRow] = read_rows(source.data, InquiryRow, self._check("inquiries"))
        await self.system.inquire(rows.good, source.stable_id, rows.acts)
        await log_acts(self.acts, "inquiries", source.data, rows)
        counts.rows(self.system.bridge, tally(rows))
        return rows_result(rows, source.name)


@dataclass(frozen=True)
class OutFolder:
    """`<root>/out/<kind>/`: where the system reads its deliveries and the print run."""

    root: Path

    def keep(self, kind: str, message_id: UUID, payload: Payload) -> None:
        """A delivery's payload as it came, as `out/<kind>/<message id>.json`."""
        document = json.dumps(payload.model_dump(mode="json"), ensure_ascii=False)
        self._write(kind, f"{message_id}.json", document.encode())

    def export(self, export: VaccinationExport) -> None:
        """F13: the VRS export as the Shift_JIS CSV the system imports (no My Number)."""
        self._write("vaccination_export", f"{export.batch_id}.csv", export_csv(export))

    def print_run(self, due: Sequence[Due], name: str) -> None:
        """F2: the vaccination notices and 予診票 to print and post, one row per person."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(["basic_code", "name", "address", "ticket_number", "document"])
        for _, row in due:
            writer.writerow(
                [row.basic_code, row.name, row.address, row.ticket_number, "notice+yoshinhyo"]
            )
        self._write("print", f"{name}.csv", out.getvalue().encode("cp932", errors="replace"))

    def _write(self, kind: str, name: str, data: bytes) -> None:
        folder = self.root / "out" / kind
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / (name + ".part")
        partial.write_bytes(data)
        partial.replace(folder / name)


Publish = Callable[[VaccinationRecord, UUID, str | None, UUID], Awaitable[None]]
"""Sends one record under the given message id, as made by the operator given (None: by no
person), in the batch given (its correlation id); returns once the broker confirmed it."""
Progress = Callable[[int, int], None]
"""Told (rows sent so far, good rows in the batch) as a batch goes out."""


def row_message_id(data: bytes, line: int, modified: datetime) -> UUID:
    """The message id of the row at `line` of a batch file whose bytes are `data`."""
    return stable_message_id(hashlib.sha256(data).digest() + line.to_bytes(8, "big"), modified)


def batch_id(data: bytes, modified: datetime) -> UUID:
    """The id of a batch file whose bytes are `data`: its rows' correlation id, under
    which the desk shows a manual import for its checks and sign-off (R01)."""
    return stable_message_id(hashlib.sha256(data).digest() + b"batch", modified)


@dataclass(frozen=True)
class DropFolder:
    """The 予診票 drop folder of `sesshu import records`: inbox, results and done. With a
    `check` (the city's roster, read at each batch), every row must name the staff account
    that keyed it in and the terminal, as at the edge's own folders (R16, R26/R27)."""

    root: Path
    check: Callable[[], ActCheck] | None = None

    @property
    def inbox(self) -> Path:
        """Where batches are dropped."""
        return self.root / "inbox"

    def prepare(self) -> DropFolder:
        """Create the folders if missing."""
        for name in ("inbox", "results", "done"):
            (self.root / name).mkdir(parents=True, exist_ok=True)
        return self

    def pending(self) -> list[Path]:
        """Batches waiting, oldest first."""
        return sorted(self.inbox.glob("*.csv"), key=lambda p: (p.stat().st_mtime, p.name))

    async def process(
        self, path: Path, publish: Publish, progress: Progress | None = None
    ) -> Batch:
        """Publish a batch's good rows, write its result file, then move it to done/."""
        data, modified = await asyncio.to_thread(_load, path)
        batch = read_batch(data, None if self.check is None else self.check())
        batch.batch = batch_id(data, modified)
        for sent, (line, record) in enumerate(batch.records, start=1):
            message_id, operator = (
                row_message_id(data, line, modified),
                operator_of(batch.acts, line),
            )
            await publish(record, message_id, operator, batch.batch)
            if progress is not None:
                progress(sent, len(batch.records))
        await asyncio.to_thread(self._finish, path, result_csv(batch, path.name))
        return batch

    def _finish(self, path: Path, result: str) -> None:
        # The result first: a batch in done/ always has its result beside it.
        _write_atomically(self.root / "results" / f"{path.stem}.result.csv", result)
        path.replace(self.root / "done" / path.name)


def _load(path: Path) -> tuple[bytes, datetime]:
    return path.read_bytes(), datetime.fromtimestamp(path.stat().st_mtime, UTC)


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_suffix(path.suffix + ".part")
    with partial.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    partial.replace(path)
