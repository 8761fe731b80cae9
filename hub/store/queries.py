"""Named SQL queries from `queries.sql` (`-- name: <name>` headers, procrastinate style)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

__all__ = ["query"]

_HEADER = re.compile(r"^-- name: (?P<name>\w+)\s*$", re.MULTILINE)


@cache
def _load() -> dict[str, str]:
    text = (Path(__file__).with_name("queries.sql")).read_text(encoding="utf-8")
    # Splitting on the headers gives the preamble, then each name followed by its body.
    parts = _HEADER.split(text)
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


def query(name: str) -> str:
    """The SQL text of a named query; KeyError names a query that does not exist."""
    return _load()[name]
