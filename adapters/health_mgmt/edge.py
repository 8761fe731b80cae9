"""The health-management system's drop folder for 予診票 result batches (F3).

    <root>/inbox/     the system (or a person) drops `*.csv` here; write under another
                      name and rename, so a half-written file is never picked up
    <root>/results/   `<name>.result.csv` for each batch: accepted and rejected counts and
                      every bad row with line, field and reason
    <root>/done/      the batch, once every good row was published and its result written

Each good row becomes a `vaccination_record` whose message id is stable for that file and
line (`stable_message_id`), so a batch interrupted by a crash is simply processed again:
rows already sent are duplicates the hub drops, nothing is lost and nothing doubles.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

from adapters.health_mgmt.records_csv import Batch, read_batch, result_csv
from contracts.envelope import stable_message_id
from contracts.payloads import VaccinationRecord

__all__ = ["DropFolder", "Publish", "row_message_id"]

Publish = Callable[[VaccinationRecord, UUID], Awaitable[None]]
"""Sends one record under the given message id; returns once the broker confirmed it."""
Progress = Callable[[int, int], None]
"""Told (rows sent so far, good rows in the batch) as a batch goes out."""


def row_message_id(data: bytes, line: int, modified: datetime) -> UUID:
    """The message id of the row at `line` of a batch file whose bytes are `data`."""
    return stable_message_id(hashlib.sha256(data).digest() + line.to_bytes(8, "big"), modified)


@dataclass(frozen=True)
class DropFolder:
    """The inbox, results and done folders under one root."""

    root: Path

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
        batch = read_batch(data)
        for sent, (line, record) in enumerate(batch.records, start=1):
            await publish(record, row_message_id(data, line, modified))
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
