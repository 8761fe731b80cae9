"""What the operator console's JSON API (`hub.web.ops_api`) and pages (`hub.web.ops`)
share: the windows, the message browser's filters (one dependency for both), whether a
row may be re-driven, and the header that keeps every answer out of caches."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Query
from pydantic import AfterValidator

from hub.desk import DeskError
from hub.journey import Hop, Journey
from hub.redrive import REDRIVABLE
from hub.store.operations import JournalFilter
from hub.web.params import Text, in_utc, printable

__all__ = [
    "DECISIONS",
    "NO_STORE",
    "WINDOWS",
    "FilterDep",
    "Text",
    "journal_filter",
    "redrivable",
    "when",
]

WINDOWS = {"15m": 900.0, "1h": 3600.0, "24h": 86400.0, "7d": 7 * 86400.0}
DECISIONS = ("deliver", "hold", "reject")
NO_STORE = {"Cache-Control": "no-store"}


def when(text: str | None, name: str) -> datetime | None:
    """A time from a form or query (naive: UTC, as the console shows every time)."""
    if not text:
        return None
    try:
        return in_utc(datetime.fromisoformat(text))
    except ValueError:
        raise DeskError("invalid_filter", f"{name}: a time like 2026-01-31T09:00") from None


def _uuid(text: str | None, name: str) -> str | None:
    if not text:
        return None
    try:
        return str(UUID(text))
    except ValueError:
        raise DeskError("invalid_filter", f"{name}: a UUID") from None


_PRINTABLE = AfterValidator(printable)


def _text(description: str) -> Any:
    return Query(max_length=64, description=description)


def journal_filter(
    *,
    message_id: Text = None,
    correlation_id: Text = None,
    kind: Text = None,
    sender: Annotated[str | None, _text("the sender's system"), _PRINTABLE] = None,
    recipient: Annotated[str | None, _text("the recipient's system"), _PRINTABLE] = None,
    decision: Text = None,
    reason: Annotated[str | None, _text("a reason code"), _PRINTABLE] = None,
    since: Annotated[str | None, _text("ISO 8601; naive: UTC"), _PRINTABLE] = None,
    until: Annotated[str | None, _text("ISO 8601; naive: UTC"), _PRINTABLE] = None,
) -> JournalFilter:
    """The browser's filters, empty ones unset; a bad one is `invalid_filter` (named)."""
    if decision and decision not in DECISIONS:
        raise DeskError("invalid_filter", f"decision: one of {', '.join(DECISIONS)}")
    return JournalFilter(
        message_id=_uuid(message_id, "message_id"),
        correlation_id=_uuid(correlation_id, "correlation_id"),
        kind=kind or None,
        sender=sender or None,
        recipient=recipient or None,
        decision=decision or None,
        reason=reason or None,
        since=when(since, "since"),
        until=when(until, "until"),
    )


FilterDep = Annotated[JournalFilter, Depends(journal_filter)]


_SETTLED = frozenset({"pending", "delivered", "held", "duplicate"})


def redrivable(hop: Hop, journey: Journey) -> bool:
    """Whether a re-drive of the row could be queued now (the desk decides it again)."""
    if hop.decision != "reject" or hop.reason_code not in REDRIVABLE or hop.pruned:
        return False
    return not any(r.journal_seq == hop.seq and r.state in _SETTLED for r in journey.redrives)
