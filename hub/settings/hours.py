"""Office hours, as the desk's settings hold them (`desk.office_hours`) and the review of
the audit trail judges log-ins by (hub/log_review.py): local time in Japan (UTC+9 all
year), Monday to Friday."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone

__all__ = ["OfficeHours"]

_JST = timezone(timedelta(hours=9), "JST")
_HOURS = re.compile(r"(?P<start>[0-9]{2}:[0-9]{2})-(?P<end>[0-9]{2}:[0-9]{2})")


@dataclass(frozen=True, slots=True)
class OfficeHours:
    """When staff work: from `start` (included) to `end` (excluded), Monday to Friday,
    in Japan's local time."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> OfficeHours:
        """`08:00-19:00` (the end may be `24:00`); ValueError otherwise."""
        match = _HOURS.fullmatch(text.strip())
        if match is None:
            raise ValueError("office hours: HH:MM-HH:MM, e.g. 08:00-19:00")
        start = _clock(match["start"])
        end = time.max if match["end"] == "24:00" else _clock(match["end"])
        if start >= end:
            raise ValueError("office hours: the start must come before the end")
        return cls(start, end)

    def outside(self, at: datetime) -> bool:
        """Whether a moment falls outside office hours (a weekend is outside all day)."""
        local = at.astimezone(_JST)
        return local.weekday() >= 5 or not self.start <= local.time() < self.end

    def __str__(self) -> str:
        end = "24:00" if self.end == time.max else f"{self.end:%H:%M}"
        return f"{self.start:%H:%M}-{end}"


def _clock(text: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise ValueError("office hours: hours 00-23 and minutes 00-59") from None
