"""The desk store's reads for the periodic review of the audit trail (R17): what one
municipality's audit rows, journal and accounts show for a period, as the plain values
`hub.log_review` makes its report of (the queries are review.sql)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from hub.log_review import (
    HUB_REJECTED,
    REFUSALS,
    FailedLogins,
    LoginAt,
    Period,
    Refusals,
    Reveals,
    ReviewFacts,
    ReviewMark,
    UnusedAccount,
)
from hub.store.statements import PoolStatements

__all__ = ["ReviewReads"]


def _json(value: object) -> Any:
    return json.loads(value) if isinstance(value, str) else value


class ReviewReads(PoolStatements):
    """What the review of a period reads."""

    async def review_facts(
        self, period: Period, scope: str | None, *, unused_days: int
    ) -> ReviewFacts:
        """The period's log-ins, failed log-ins, reveals, refusals and marks of `scope`
        (a municipality; None: every row), and its accounts unused for `unused_days` as
        of the period's end."""
        span = (period.since, period.until, scope)
        cutoff = period.until - timedelta(days=unused_days)
        refusals = await self._fetch("review_refusals", *span, list(REFUSALS), HUB_REJECTED)
        unused = await self._fetch("review_unused", scope, cutoff, period.until)
        return ReviewFacts(
            logins=[LoginAt(**row) for row in await self._fetch("review_logins", *span)],
            failed=[
                FailedLogins(**row) for row in await self._fetch("review_failed_logins", *span)
            ],
            reveals=[Reveals(**row) for row in await self._fetch("review_reveals", *span)],
            refusals=[Refusals(**row) for row in refusals],
            unused=[
                UnusedAccount(**{**row, "roles": tuple(sorted(row["roles"]))}) for row in unused
            ],
            marks=[
                ReviewMark.of(row["seq"], row["at"], row["actor"], _json(row["detail"]))
                for row in await self._fetch("review_marks", *span)
            ],
        )
