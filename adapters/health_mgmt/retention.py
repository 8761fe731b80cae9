"""Retention of the files health management keeps in its edge folders: what of them holds
vaccination records goes five years after it arrived (予防接種法施行規則 §3), the copies of
inquiry results it was handed when the intermediate server deletes the result (R42), and
the copies of 情報提供等記録 after their seven years (R47). The periods are given by the
caller (`stack/prune.py`, from the settings); a file's age is its modification time, the
moment it was written here.

    records             records/done/ and records/results/: the returned 予診票 (F3)
                        and what the adapter answered of each
    dose_record         out/dose_record/: doses VRS delivered (F13)
    vaccination_export  out/vaccination_export/: the VRS exports (F13)
    inquiry_result      out/inquiry_result/: inquiry results (F6)
    provision_record    out/provision_record/: 情報提供等記録 of inquiries (R47)

Nothing else there is touched: the residents files and print runs are no vaccination
record, and their retention is another system's (README, Retention).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["FOLDERS", "due_files", "remove"]

FOLDERS: Mapping[str, tuple[str, ...]] = {
    "records": ("records/done", "records/results"),
    "dose_record": ("out/dose_record",),
    "vaccination_export": ("out/vaccination_export",),
    "inquiry_result": ("out/inquiry_result",),
    "provision_record": ("out/provision_record",),
}


def due_files(root: Path, before: Mapping[str, datetime]) -> dict[str, list[Path]]:
    """For each kind given a cutoff, its files under `root` last written before it."""
    due: dict[str, list[Path]] = {}
    for kind, cutoff in before.items():
        for folder in FOLDERS[kind]:
            directory = root / folder
            if not directory.is_dir():
                continue
            for path in sorted(directory.iterdir()):
                if path.is_file() and _written(path) < cutoff:
                    due.setdefault(kind, []).append(path)
    return due


def remove(paths: Iterable[Path]) -> int:
    """Delete the files (one gone already is no error); how many were deleted."""
    removed = 0
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed += 1
    return removed


def _written(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)
