"""The health-management drop folder: good rows published under stable ids, a result file
per batch, the batch moved only when done, and a crash mid-batch resent without loss."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest

from adapters.health_mgmt.edge import DropFolder
from contracts.envelope import stable_message_id
from contracts.payloads import VaccinationRecord
from tests.unit.test_records_csv import GOOD, csv_bytes


class Recorder:
    def __init__(self, fail_after: int | None = None) -> None:
        self.sent: list[tuple[UUID, VaccinationRecord]] = []
        self.fail_after = fail_after

    async def __call__(
        self,
        record: VaccinationRecord,
        message_id: UUID,
        operator: str | None = None,
        batch: UUID | None = None,
    ) -> None:
        if self.fail_after is not None and len(self.sent) == self.fail_after:
            raise ConnectionError("broker gone")
        self.sent.append((message_id, record))


def drop(folder: DropFolder, name: str, rows: list[dict[str, str]]) -> Path:
    path = folder.inbox / name
    path.write_bytes(csv_bytes(rows, japanese=True, encoding="cp932"))
    return path


def test_stable_ids_are_uuid7_and_differ_by_seed() -> None:
    at = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    first = stable_message_id(b"file-1:line-2", at)
    assert first == stable_message_id(b"file-1:line-2", at)
    assert first != stable_message_id(b"file-1:line-3", at)
    assert first.version == 7
    assert first.variant == "specified in RFC 4122"
    assert first.int >> 80 == int(at.timestamp() * 1000)


async def test_a_batch_publishes_its_good_rows_and_reports_the_bad(tmp_path: Path) -> None:
    folder = DropFolder(tmp_path).prepare()
    path = drop(folder, "batch-001.csv", [GOOD, GOOD | {"lot_number": ""}, GOOD])
    publish, seen = Recorder(), []
    batch = await folder.process(path, publish, lambda done, total: seen.append((done, total)))
    assert len(publish.sent) == 2
    assert len({message_id for message_id, _ in publish.sent}) == 2
    assert seen == [(1, 2), (2, 2)]
    assert batch.bad_lines == 1
    assert folder.pending() == []
    assert (tmp_path / "done" / "batch-001.csv").is_file()
    result = (tmp_path / "results" / "batch-001.result.csv").read_text(encoding="utf-8")
    assert "# accepted rows,2" in result
    assert "\n3,row," in result
    assert "# encoding,cp932" in result


async def test_a_crash_mid_batch_leaves_it_in_the_inbox_and_a_rerun_sends_the_same_ids(
    tmp_path: Path,
) -> None:
    folder = DropFolder(tmp_path).prepare()
    path = drop(folder, "batch-002.csv", [GOOD, GOOD, GOOD])
    broken = Recorder(fail_after=1)
    with pytest.raises(ConnectionError):
        await folder.process(path, broken)
    assert folder.pending() == [path]
    assert not (tmp_path / "results" / "batch-002.result.csv").exists()
    again = Recorder()
    await folder.process(path, again)
    assert [i for i, _ in again.sent][:1] == [i for i, _ in broken.sent]  # a duplicate
    assert len(again.sent) == 3
    assert folder.pending() == []
