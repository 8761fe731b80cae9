"""What PostgreSQL makes of a value, for the in-memory stores that stand in for the
systems' PostgreSQL ones (`adapters/store/`): the column types asyncpg gives back, the
text a jsonb column gives back, and a refusal wherever a constraint would refuse; and the
in-memory inbox the bridges' unit tests use.

An in-memory store keeps its rows as the database would, so that a caller tested against
it sees what it would see in production: a `timestamptz` in UTC, a `date` without its
time, a `uuid` parsed, a jsonb document reordered and its numbers rewritten.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any, NoReturn, overload
from uuid import UUID

from adapters.ports import InboxTransaction
from hub.errors import Conflict

__all__ = [
    "ConstraintViolation",
    "MemoryInbox",
    "jsonb",
    "not_null",
    "pg_date",
    "pg_now",
    "pg_uuid",
    "timestamptz",
]


class ConstraintViolation(Conflict):
    """A write PostgreSQL would refuse: a unique, foreign-key, not-null or check constraint
    (the same `Conflict` the PostgreSQL stores raise)."""


def pg_now() -> datetime:
    """`now()`: the time a statement runs, in UTC."""
    return datetime.now(UTC)


@overload
def timestamptz(value: date) -> datetime: ...
@overload
def timestamptz(value: None) -> None: ...
def timestamptz(value: date | None) -> datetime | None:
    """A `timestamptz` as asyncpg sends it and reads it back: in UTC. A naive datetime is
    taken as local time (asyncpg's encoder calls `astimezone`), a date as midnight at the
    local offset of the moment (as asyncpg's encoder does, even across a DST change)."""
    if value is None:
        return None
    if not isinstance(value, date):
        raise TypeError(f"expected a datetime.date or datetime.datetime, got {type(value)}")
    if not isinstance(value, datetime):
        offset = datetime.now(UTC).astimezone().utcoffset() or timedelta(0)
        value = datetime.combine(value, time(), tzinfo=timezone(offset))
    return value.astimezone(UTC)


@overload
def pg_date(value: date) -> date: ...
@overload
def pg_date(value: None) -> None: ...
def pg_date(value: date | None) -> date | None:
    """A `date` as asyncpg sends it: a datetime's own calendar day, without conversion."""
    return None if value is None else date.fromordinal(value.toordinal())


@overload
def pg_uuid(value: UUID | str) -> UUID: ...
@overload
def pg_uuid(value: None) -> None: ...
def pg_uuid(value: UUID | str | None) -> UUID | None:
    """A `uuid` as asyncpg sends it: a string is parsed."""
    return value if value is None or isinstance(value, UUID) else UUID(value)


def not_null(row: Mapping[str, Any], columns: Iterable[str]) -> None:
    """Refuse a row with NULL in a NOT NULL column."""
    for column in columns:
        if row[column] is None:
            raise ConstraintViolation(f"{column} not null")


def jsonb(value: Any) -> str:
    """The text PostgreSQL gives back for `json.dumps(value)` stored as jsonb.

    jsonb keeps the last of repeated keys, orders an object's keys shortest first and then
    bytewise, and stores numbers as `numeric`, which prints them without an exponent
    (1e16 comes back as 10000000000000000, so reads as an int) and without a minus zero.
    """
    parsed = json.loads(json.dumps(value), parse_float=Decimal, parse_constant=_no_constant)
    return _text(parsed)


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"invalid input syntax for type json: {name}")


def _text(value: Any) -> str:
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: (len(k.encode()), k.encode()))
        return "{" + ", ".join(f"{_string(k)}: {_text(value[k])}" for k in keys) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return format(value.copy_abs() if value.is_zero() else value, "f")
    if isinstance(value, str):
        return _string(value)
    return json.dumps(value)  # int, bool, None print alike


def _string(value: str) -> str:
    if "\x00" in value:
        raise ValueError("unsupported Unicode escape sequence: \\u0000 cannot be stored")
    return json.dumps(value, ensure_ascii=False)


@dataclass
class _MemoryInboxTransaction:
    effects: list[str]
    fresh: bool
    committed: list[Callable[[], None]] = field(default_factory=list)

    async def record_effect(self, effect: str) -> None:
        self.effects.append(effect)

    def on_commit(self, action: Callable[[], None]) -> None:
        self.committed.append(action)


@dataclass
class MemoryInbox:
    """An adapter inbox held in a set (`AdapterInbox`, for unit tests of the bridges): a
    delivery's dedupe row and effects are kept only if its handler does not raise."""

    seen: set[tuple[str, str]] = field(default_factory=set)
    effects: list[tuple[str, str, str]] = field(default_factory=list)

    @asynccontextmanager
    async def first_time(self, consumer: str, message_id: str) -> AsyncIterator[InboxTransaction]:
        """Dedupe row and effects, kept only if the body does not raise (then what waits
        for the commit runs)."""
        key = (consumer, message_id)
        transaction = _MemoryInboxTransaction([], key not in self.seen)
        yield transaction
        self.seen.add(key)
        self.effects.extend((consumer, message_id, e) for e in transaction.effects)
        for action in transaction.committed:
            action()
