"""Canonical bytes and the one wire form of dates, times, decimals and UUIDs.

The rules are written out in contracts/README.md ("Canonical bytes"); this module is their
reference implementation. The wire forms are enforced on input as well as produced on
output, so that parsing an envelope and serializing it again gives back the same bytes.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    AfterValidator,
    BeforeValidator,
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
)

__all__ = [
    "UUID_FORM",
    "CanonicalError",
    "Day",
    "PlainDecimal",
    "UtcDateTime",
    "WireUUID",
    "canonical_bytes",
    "format_datetime",
    "format_decimal",
]

_DATETIME_FORM = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
_DATE_FORM = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DECIMAL_FORM = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]*[1-9])?")
UUID_FORM = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
"""The one wire spelling of a UUID."""


class CanonicalError(ValueError):
    """A value has no canonical form (a lone surrogate, NaN, a non-string key)."""


def canonical_bytes(value: Any) -> bytes:
    """UTF-8 JSON with keys sorted, no insignificant white space, non-ASCII left as is.

    For the values an envelope can hold (objects with ASCII keys, arrays, strings, integers,
    booleans and null) this is exactly RFC 8785 (JCS).
    """
    try:
        text = json.dumps(
            value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
        )
        return text.encode("utf-8")
    except (TypeError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
        raise CanonicalError(f"value has no canonical JSON form: {type(exc).__name__}") from None


def format_datetime(value: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SS.ffffffZ`, always UTC and always six fractional digits."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_decimal(value: Decimal) -> str:
    """Plain notation, no exponent, no trailing fractional zeros, no negative zero."""
    text = format(value.normalize(), "f")
    return "0" if text in {"-0", "0"} else text


# The *_form validators turn the one wire spelling into the Python value themselves, so
# that strict validation of received JSON (which refuses "1" for 1) still accepts them.


def _datetime_form(value: object) -> object:
    if isinstance(value, str):
        if not _DATETIME_FORM.fullmatch(value):
            raise ValueError("date-time must be in the form YYYY-MM-DDTHH:MM:SS.ffffffZ (UTC)")
        try:
            return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        except ValueError:
            raise ValueError("date-time is not a real calendar time") from None
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValueError("date-time must carry a time zone")
    return value


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _date_form(value: object) -> object:
    if isinstance(value, datetime) or (isinstance(value, str) and not _DATE_FORM.fullmatch(value)):
        raise ValueError("date must be in the form YYYY-MM-DD")
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError("date is not a real calendar date") from None
    return value


def _decimal_form(value: object, info: ValidationInfo) -> Decimal:
    if isinstance(value, str):
        if not _DECIMAL_FORM.fullmatch(value):
            raise ValueError("decimal must be a string in plain notation without trailing zeros")
        return Decimal(value)
    # On the wire a decimal is a string; a JSON number is refused (contracts/README.md).
    python = info.mode == "python"
    if python and isinstance(value, Decimal | int) and not isinstance(value, bool):
        try:
            return Decimal(format_decimal(Decimal(value)))
        except InvalidOperation:
            raise ValueError("decimal must be finite") from None
    raise ValueError("decimal must be a string such as 0.5")


def _uuid_form(value: object) -> object:
    if isinstance(value, str):
        if not UUID_FORM.fullmatch(value):
            raise ValueError("UUID must be 36 lower-case hexadecimal characters with hyphens")
        return UUID(value)
    return value


def _wire_schema(pattern: re.Pattern[str], **extra: str) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "pattern": f"^{pattern.pattern}$", **extra})


UtcDateTime = Annotated[
    datetime,
    BeforeValidator(_datetime_form),
    AfterValidator(_to_utc),
    PlainSerializer(format_datetime, return_type=str, when_used="json"),
    _wire_schema(_DATETIME_FORM, format="date-time"),
]
"""An aware date-time, kept in UTC, on the wire as `2026-11-26T06:20:11.000000Z`."""

Day = Annotated[date, BeforeValidator(_date_form), _wire_schema(_DATE_FORM, format="date")]
"""A calendar date, on the wire as `YYYY-MM-DD`."""

PlainDecimal = Annotated[
    Decimal,
    BeforeValidator(_decimal_form),
    PlainSerializer(format_decimal, return_type=str, when_used="json"),
    _wire_schema(_DECIMAL_FORM, description="a decimal number written as a string"),
]
"""A finite decimal, on the wire as a JSON string in plain notation (`"0.5"`, `"12"`)."""

WireUUID = Annotated[UUID, BeforeValidator(_uuid_form), _wire_schema(UUID_FORM, format="uuid")]
"""A UUID, on the wire in lower-case hyphenated form."""
