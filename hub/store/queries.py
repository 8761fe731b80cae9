"""Named SQL queries from the `*.sql` files beside this module (`-- name: <name>` headers,
procrastinate style): `queries.sql` for the pipeline, `desk.sql` for approvals, staff and
the audit trail."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

__all__ = ["query"]

_HEADER = re.compile(r"^-- name: (?P<name>\w+)\s*$", re.MULTILINE)


@cache
def _load() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in sorted(Path(__file__).parent.glob("*.sql")):
        # Splitting on the headers gives the preamble, then each name followed by its body.
        parts = _HEADER.split(path.read_text(encoding="utf-8"))
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            if name in found:
                raise ValueError(f"query {name} is defined twice ({path.name})")
            found[name] = body.strip()
    return found


def query(name: str) -> str:
    """The SQL text of a named query; KeyError names a query that does not exist."""
    return _load()[name]
