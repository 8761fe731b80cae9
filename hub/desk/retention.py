"""Pruning what is past its retention through the desk: journal payload bytes past their
period and 情報提供等記録 past their seven years (`hub/retention.py` says what goes when),
each transaction audited with its counts (`retention.pruned`), in the transaction that
removes them. Housekeeping runs it in every hub worker (one at a time: the others skip
their turn) and `sesshu prune` on demand; `--dry-run` counts and changes nothing."""

from __future__ import annotations

from dataclasses import dataclass

from hub.desk.common import HUB_ACTOR, DeskBase, Terminal
from hub.retention import Periods, Pruned, cutoffs, merged
from hub.store.desk import DeskTransaction

__all__ = ["PRUNED_ACTION", "Pruning"]

PRUNED_ACTION = "retention.pruned"
_R47 = "past retention_until (7 y, R47)"


@dataclass(frozen=True, slots=True)
class _Round:
    """One transaction's work: its lines, and whether a kind filled the batch (more may
    be due)."""

    lines: list[Pruned]
    full: bool


class Pruning(DeskBase):
    """Retention's prune of the hub's database."""

    async def prune(
        self,
        periods: Periods,
        *,
        batch: int,
        dry_run: bool = False,
        actor: str = HUB_ACTOR,
        terminal: Terminal | None = None,
    ) -> list[Pruned]:
        """Remove what is past its period, `batch` rows of a kind per transaction until
        nothing is left, each transaction audited with its counts; what went, by kind and
        age. A dry run answers what would go and changes nothing. If another process is
        pruning, this one leaves it to that one and answers what it did before."""
        if dry_run:
            async with self.store.transaction() as tx:
                return (await self._round(tx, periods, None, dry_run=True)).lines
        done: list[Pruned] = []
        while True:
            async with self.store.transaction() as tx:
                if not await tx.prune_lock():
                    break
                this = await self._round(tx, periods, batch, dry_run=False)
                if this.lines:
                    await tx.audit(
                        at=self._now(),
                        actor=actor,
                        action=PRUNED_ACTION,
                        terminal=None if terminal is None else terminal.as_dict(),
                        detail={
                            "counts": [line.audited() for line in this.lines],
                            "total": sum(line.count for line in this.lines),
                        },
                    )
            done = merged([*done, *this.lines])
            if not this.full:
                break
        return done

    async def _round(
        self, tx: DeskTransaction, periods: Periods, limit: int | None, *, dry_run: bool
    ) -> _Round:
        now = self._now()
        groups = await tx.payload_groups(periods.shortest().total_seconds())
        due = cutoffs(groups, periods, now)
        payloads = await tx.prune_payloads(due, limit=limit, dry_run=dry_run)
        lines = [
            Pruned(cutoff.group.kind or "(unknown kind)", cutoff.period.label(), n, "payloads", old)
            for cutoff, n, old in payloads
        ]
        records, oldest = await tx.prune_records(limit=limit, dry_run=dry_run)
        if records:
            lines.append(Pruned("provision_record", _R47, records, "records", oldest))
        pruned = sum(n for _, n, _ in payloads)
        full = limit is not None and (pruned >= limit or records >= limit)
        return _Round(merged(lines), full)
