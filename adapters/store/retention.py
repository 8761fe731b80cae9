"""Retention in a city's adapter database (retention.sql): health management's vaccination
records five years after the vaccination (予防接種法施行規則 §3), the intermediate server's
情報提供等記録 once their retention_until has passed (seven years, R47).

Each transaction removes at most `batch` rows of each kind and writes a `retention_log` row
of its counts (never what it removed), so what went and its record commit together. The
composition root runs it (`stack/prune.py`: a city's host every
SESSHU_RETENTION__INTERVAL_SECONDS, and `sesshu stack prune`); R42's deletion of inquiry
results stays `adapters/intermediate/retention.py`, on its own clock.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date

from adapters.store.db import AdapterDb
from adapters.store.queries import query
from storekit.translate import translated

__all__ = ["DOSES", "RECORDS", "PgRetention", "Removed"]

DOSES = "vaccination_record"
RECORDS = "provision_record"


@dataclass(frozen=True, slots=True)
class Removed:
    """How many rows of a kind a prune removed (or, dry, would remove), and the oldest:
    a vaccination day for doses, a request time for records."""

    what: str
    count: int
    oldest: date | None
    """A day (doses) or an aware datetime (records), which is a date too."""


@dataclass
class PgRetention:
    """The prune of one adapter database."""

    db: AdapterDb

    async def prune(
        self,
        *,
        years: int,
        batch: int,
        dry_run: bool = False,
        actor: str,
        kinds: Collection[str] = (DOSES, RECORDS),
    ) -> list[Removed]:
        """Remove what of `kinds` is past its retention (health management's doses, the
        intermediate server's records: each system's own role prunes only its own), `batch`
        rows of a kind per transaction until nothing is left (or another process holds the
        prune); what went. A dry run counts everything due and changes nothing."""
        if dry_run:
            async with self.db.transaction():
                return await self._round(years, None, kinds, dry_run=True)
        done: dict[str, Removed] = {}
        while True:
            async with self.db.transaction():
                if not await self.db.fetchval(query("retention_lock")):
                    break
                this = [r for r in await self._round(years, batch, kinds, dry_run=False) if r.count]
                if this:
                    await self.log(actor, {r.what: r.count for r in this})
            for removed in this:
                done[removed.what] = _added(done.get(removed.what), removed)
            if not any(r.count >= batch for r in this):
                break
        return list(done.values())

    async def log(self, actor: str, counts: Mapping[str, int]) -> None:
        """Record a prune's counts (also of what was removed outside the database)."""
        with translated():
            await self.db.execute(query("retention_log_put"), actor, json.dumps(dict(counts)))

    async def _round(
        self, years: int, limit: int | None, kinds: Collection[str], *, dry_run: bool
    ) -> list[Removed]:
        rows = []
        with translated():
            if DOSES in kinds:
                doses = await self.db.fetchrow(query("retention_doses"), years, limit, dry_run)
                rows.append((DOSES, doses))
            if RECORDS in kinds:
                records = await self.db.fetchrow(query("retention_records"), limit, dry_run)
                rows.append((RECORDS, records))
        return [
            Removed(what, int(row["rows"]), row["oldest"]) for what, row in rows if row is not None
        ]


def _added(seen: Removed | None, more: Removed) -> Removed:
    if seen is None:
        return more
    olds = [o for o in (seen.oldest, more.oldest) if o is not None]
    return Removed(more.what, seen.count + more.count, min(olds, default=None))
