"""The query and path parameters of the desk's API and pages, checked before any reaches
the database (issue 15): text of bounded length without control characters (PostgreSQL
refuses NUL in text, and nothing else of them belongs in a filter), integers a PostgreSQL
column holds, and times that stay a moment of years 1 to 9999 once in UTC (an offset can
push `9999-12-31T23:59:59-23:59` past them, which neither Python nor asyncpg can write).
A bad one is 422 naming the field; `hub.web.app` never echoes the value."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator

__all__ = [
    "BIGINT_MAX",
    "INT4_MAX",
    "Municipality",
    "Offset",
    "Seq",
    "SeqAfter",
    "Text",
    "UtcMoment",
    "in_utc",
    "printable",
]

INT4_MAX = 2**31 - 1
BIGINT_MAX = 2**63 - 1


def printable(value: str | None) -> str | None:
    """Text without control characters (NUL, escape sequences, DEL and the C1 range)."""
    if value is not None and any(unicodedata.category(c) == "Cc" for c in value):
        raise ValueError("control characters are not allowed")
    return value


def in_utc(value: datetime | None) -> datetime | None:
    """A moment in UTC (a time without an offset is taken as UTC, as the desk shows)."""
    if value is None:
        return None
    try:
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range: a time of the years 1 to 9999 in UTC") from None


Text = Annotated[str | None, Query(max_length=64), AfterValidator(printable)]
"""A free-text filter: at most 64 characters, none of them a control character."""
Municipality = Annotated[
    str | None, Query(pattern=r"^[0-9]{6}$", description="6-digit local-government code")
]
Offset = Annotated[int, Query(ge=0, le=INT4_MAX)]
UtcMoment = Annotated[
    datetime | None, Query(description="ISO 8601; naive: UTC"), AfterValidator(in_utc)
]
SeqAfter = Annotated[
    int | None, Query(ge=1, le=BIGINT_MAX, description="the `next` of the page before")
]
Seq = Annotated[int, Path(ge=1, le=BIGINT_MAX, description="a journal row's seq")]
