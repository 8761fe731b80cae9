"""Named SQL queries from the `*.sql` files of one folder (`-- name: <name>` headers,
procrastinate style)."""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path

__all__ = ["Queries"]

_HEADER = re.compile(r"^-- name: (?P<name>\w+)\s*$", re.MULTILINE)


class Queries:
    """The queries of a folder's `*.sql` files, read once on first use."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @cached_property
    def texts(self) -> dict[str, str]:
        """Every query by name; a name defined twice is an error."""
        found: dict[str, str] = {}
        for path in sorted(self.directory.glob("*.sql")):
            # Splitting on the headers gives the preamble, then each name followed by its body.
            parts = _HEADER.split(path.read_text(encoding="utf-8"))
            for name, body in zip(parts[1::2], parts[2::2], strict=True):
                if name in found:
                    raise ValueError(f"query {name} is defined twice ({path.name})")
                found[name] = body.strip()
        return found

    def __call__(self, name: str) -> str:
        """The SQL text of a named query; KeyError names a query that does not exist."""
        return self.texts[name]
