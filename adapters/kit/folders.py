"""Request folders at an edge: a system drops `*.csv` files in `<root>/<name>/inbox/`
(written under another name, then renamed), the adapter answers each in `results/` and
moves it to `done/`. What a file causes gets ids stable for that file, so a file handled
again after a crash sends nothing twice (the hub drops the duplicates)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

from contracts.envelope import stable_message_id
from hub.errors import Retryable

__all__ = ["Source", "prepare", "serve"]

log = logging.getLogger("sesshu.adapters.folders")
Answer = Callable[["Source"], Awaitable[str]]
"""Handles one request file; returns its result file's text."""


@dataclass(frozen=True)
class Source:
    """A request file: its bytes, name and modification time."""

    data: bytes
    name: str
    modified: datetime

    @classmethod
    def read(cls, path: Path) -> Source:
        """The file as it is now."""
        modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        return cls(path.read_bytes(), path.name, modified)

    def stable_id(self, line: int, label: str) -> UUID:
        """The id of what one line causes: the same each time this file is handled."""
        seed = hashlib.sha256(self.data).digest() + line.to_bytes(8, "big") + label.encode()
        return stable_message_id(seed, self.modified)


def prepare(root: Path, names: Iterable[str]) -> None:
    """Create `inbox/`, `results/` and `done/` of each request folder."""
    for name in names:
        for sub in ("inbox", "results", "done"):
            (root / name / sub).mkdir(parents=True, exist_ok=True)


async def serve(root: Path, answers: Mapping[str, Answer]) -> int:
    """Handle every file waiting in the request folders, oldest first; how many."""
    handled = 0
    for name, answer in answers.items():
        inbox = root / name / "inbox"
        for path in sorted(inbox.glob("*.csv"), key=lambda p: (p.stat().st_mtime, p.name)):
            try:
                result = await answer(Source.read(path))
            except Retryable:
                raise  # the database is away: the file stays for the next look
            except Exception as exc:
                # A file that breaks the handler must not block the ones behind it; it is
                # kept in done/ with a result that says so, for an operator to look at.
                log.exception("request file %s could not be handled", path.name)
                result = f"# file,{path.name}\n# failed,{type(exc).__name__}\n"
            _finish(root / name, path, result)
            handled += 1
    return handled


def _finish(folder: Path, path: Path, result: str) -> None:
    # The result first: a file in done/ always has its result beside it.
    target = folder / "results" / f"{path.stem}.result.csv"
    partial = target.with_suffix(".part")
    partial.write_text(result, encoding="utf-8")
    partial.replace(target)
    path.replace(folder / "done" / path.name)
