"""The periodic review of the audit trail through the desk (R17): an auditor's report of
a period (hub/log_review.py makes it of what the store finds, hub/store/review.py), and
the auditor's mark that the period was reviewed, appended to the audit chain (`audit
verify` covers it like any row), with the digest of the report it attests.

Auditors review their municipality's rows, admins every row; anyone else is refused, and
the refusal is audited (`audit.review_refused`). Making a report is itself audited
(`audit.review_viewed`): the report lists accounts and what they did."""

from __future__ import annotations

from hub.approvals import Role, Staff
from hub.desk.common import DeskBase, Forbidden, NotAuthenticated, Refused, Terminal
from hub.log_review import REVIEWED, Period, ReviewMark, ReviewReport, report

__all__ = ["REVIEW_REFUSED", "REVIEW_VIEWED", "Reviewing"]

REVIEW_VIEWED = "audit.review_viewed"
REVIEW_REFUSED = "audit.review_refused"


class Reviewing(DeskBase):
    """The review report of a period, and the auditor's mark that it was reviewed."""

    async def review(self, who: Staff, period: Period, terminal: Terminal) -> ReviewReport:
        """The report of `period` for `who`'s municipality (every row for an admin),
        audited."""
        scope = await self._reviewer_scope(who, terminal, "report")
        made = await self._report(period, scope)
        async with self.store.transaction() as tx:
            await tx.audit(
                at=self._now(),
                actor=who.user_id,
                action=REVIEW_VIEWED,
                municipality=who.municipality,
                terminal=terminal.as_dict(),
                detail={**period.as_dict(), "scope": scope, "sha256": made.sha256},
            )
        return made

    async def mark_reviewed(
        self, who: Staff, period: Period, terminal: Terminal, *, sha256: str | None = None
    ) -> tuple[ReviewMark, ReviewReport]:
        """Append the auditor's mark that `period` was reviewed, with the digest of its
        report as it stands now (refused as `report_changed` if that is not `sha256`, the
        digest of the report the auditor read); the mark and the report that shows it."""
        scope = await self._reviewer_scope(who, terminal, "mark")
        made = await self._report(period, scope)
        if sha256 is not None and sha256 != made.sha256:
            raise Refused("report_changed", "the report changed since it was read: read it again")
        async with self.store.transaction() as tx:
            detail = {**period.as_dict(), "scope": scope, "sha256": made.sha256}
            row = await tx.audit(
                at=self._now(),
                actor=who.user_id,
                action=REVIEWED,
                municipality=who.municipality,
                terminal=terminal.as_dict(),
                detail=detail,
            )
        mark = ReviewMark.of(row.seq, row.at, row.actor, row.detail)
        return mark, await self._report(period, scope)

    async def _report(self, period: Period, scope: str | None) -> ReviewReport:
        rules = self.review_rules
        facts = await self.store.review_facts(period, scope, unused_days=rules.unused_days)
        return report(period, scope, rules, facts)

    async def _reviewer_scope(self, who: Staff, terminal: Terminal, act: str) -> str | None:
        """The municipality `who` reviews (None: an admin, every row); refused, and
        audited, for anyone else."""
        if who.disabled:
            raise NotAuthenticated("account_disabled", "the account is disabled")
        async with self._refusal_audited(who, REVIEW_REFUSED, terminal, act=act):
            if not who.roles & {Role.AUDITOR, Role.ADMIN}:
                raise Forbidden("not_an_auditor", "only auditors and admins review the records")
        return None if Role.ADMIN in who.roles else who.municipality
