"""The desk store's retention statements (retention.sql): which journal rows still hold
bytes, removing the bytes of those past their period, and the 情報提供等記録 past theirs.
They run inside the desk's transaction, so a prune commits with its audit row."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from hub.retention import Cutoff, PayloadGroup
from hub.store.queries import query
from hub.store.statements import TransactionStatements
from storekit.translate import translated

__all__ = ["RetentionTransaction"]


class RetentionTransaction(TransactionStatements):
    """Retention's statements inside a transaction."""

    async def prune_lock(self) -> bool:
        """Take the prune lock until the transaction ends; False if another process has it."""
        with translated():
            return bool(await self.connection.fetchval(query("prune_lock")))

    async def payload_groups(self, older_than_seconds: float) -> list[PayloadGroup]:
        """The journal rows that may be due, grouped by what their period depends on."""
        with translated():
            rows = await self.connection.fetch(query("payload_groups"), older_than_seconds)
        return [
            PayloadGroup(
                kind=row["kind"],
                decision=row["decision"],
                procedure=row["procedure"],
                data_items=row["data_items"],
                rows=int(row["rows"]),
                oldest=row["oldest"],
            )
            for row in rows
        ]

    async def prune_payloads(
        self, due: Sequence[Cutoff], *, limit: int | None, dry_run: bool
    ) -> list[tuple[Cutoff, int, datetime]]:
        """Remove the bytes of the rows due (at most `limit`), keeping their hash; each
        cutoff with its count and oldest row. A dry run counts and changes nothing."""
        if not due:
            return []
        groups = [c.group for c in due]
        with translated():
            rows = await self.connection.fetch(
                query("payload_prune"),
                [g.kind for g in groups],
                [g.decision for g in groups],
                [g.procedure for g in groups],
                [g.data_items for g in groups],
                [c.before for c in due],
                limit,
                dry_run,
            )
        return [(due[row["ord"] - 1], int(row["rows"]), row["oldest"]) for row in rows]

    async def prune_records(
        self, *, limit: int | None, dry_run: bool
    ) -> tuple[int, datetime | None]:
        """Delete the 情報提供等記録 past their retention (at most `limit`): how many, and
        the oldest request among them. A dry run counts and changes nothing."""
        with translated():
            row = await self.connection.fetchrow(query("records_prune"), limit, dry_run)
        if row is None:  # pragma: no cover - an aggregate always returns a row
            return 0, None
        return int(row["rows"]), row["oldest"]
