"""The desk store's audit trail: the hash-chained append, checkpoints, journal seals, and
the reads of the trail and of the 情報提供等記録.

Appends are serialized by an advisory lock held until the transaction ends, so each row's
hash covers the row before it whichever process writes (`hub.desk.trail`)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from hub.audit import GENESIS, AuditRow, Checkpoint, row_hash
from hub.store.queries import query
from hub.store.rows import ProvisionRow
from hub.store.statements import PoolStatements, TransactionStatements
from storekit.translate import translated

__all__ = ["TrailReads", "TrailTransaction", "audit_row"]


def _json(value: object) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def audit_row(record: Mapping[str, Any]) -> AuditRow:
    """An AuditRow from a row of audit_log."""
    return AuditRow(
        seq=record["seq"],
        at=record["at"],
        actor=record["actor"],
        action=record["action"],
        subject=record["subject"],
        municipality=record["municipality"],
        terminal=_json(record["terminal"]),
        detail=_json(record["detail"]),
        prev_hash=record["prev_hash"],
        hash=record["hash"],
    )


class TrailTransaction(TransactionStatements):
    """The audit chain's statements inside a transaction."""

    async def audit(
        self,
        *,
        at: datetime,
        actor: str,
        action: str,
        subject: str | None = None,
        municipality: str | None = None,
        terminal: Mapping[str, str] | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> AuditRow:
        """Append a row to the audit chain (serialized by an advisory lock)."""
        with translated():
            await self.connection.execute(query("audit_lock"))
            head = await self.connection.fetchrow(query("audit_head"))
            seq, prev = (head["seq"] + 1, head["hash"]) if head else (1, GENESIS)
            row = AuditRow(
                seq=seq,
                at=at,
                actor=actor,
                action=action,
                subject=subject,
                municipality=municipality,
                terminal=dict(terminal) if terminal is not None else None,
                detail=dict(detail or {}),
                prev_hash=prev,
                hash="",
            )
            row = replace(row, hash=row_hash(prev, row.content()))
            await self._insert(row)
        return row

    async def _insert(self, row: AuditRow) -> None:
        await self.connection.execute(
            query("audit_insert"),
            row.seq,
            row.at,
            row.actor,
            row.action,
            row.subject,
            row.municipality,
            None if row.terminal is None else json.dumps(row.terminal),
            json.dumps(row.detail),
            row.prev_hash,
            row.hash,
        )

    async def lock_audit(self) -> None:
        """Take the audit append lock now (it is held until the transaction ends)."""
        with translated():
            await self.connection.execute(query("audit_lock"))

    async def last_detail(self, action: str) -> dict[str, Any] | None:
        """The detail of the latest audit row of an action, in this transaction."""
        with translated():
            row = await self.connection.fetchrow(query("audit_last_of"), action)
        return None if row is None else dict(_json(row["detail"]))

    async def journal_upto(self, after: int, lag_seconds: float) -> int | None:
        """The last journal seq a seal may cover now, if any is past `after`."""
        with translated():
            upto = await self.connection.fetchval(query("journal_seal_upto"), after, lag_seconds)
        return None if upto is None else int(upto)

    async def journal_digest(self, after: int, upto: int) -> tuple[int, str]:
        """(rows, digest) of the journal rows in (after, upto]."""
        with translated():
            row = await self.connection.fetchrow(query("journal_digest"), after, upto)
        if row is None:  # pragma: no cover - an aggregate always returns a row
            return 0, ""
        return int(row["rows"]), str(row["digest"])

    async def head(self) -> tuple[int, str] | None:
        """(seq, hash) of the chain's head, under the append lock."""
        with translated():
            await self.connection.execute(query("audit_lock"))
            head = await self.connection.fetchrow(query("audit_head"))
            if head is None:
                return None
            last = await self.connection.fetchval(query("checkpoint_last"))
        if last is not None and last >= head["seq"]:
            return None
        return int(head["seq"]), str(head["hash"])

    async def checkpoint(self, checkpoint: Checkpoint) -> None:
        """Store a signed checkpoint."""
        with translated():
            await self.connection.execute(
                query("checkpoint_insert"),
                checkpoint.seq,
                checkpoint.hash,
                checkpoint.signed_at,
                checkpoint.key_id,
                checkpoint.signature,
            )


class TrailReads(PoolStatements):
    """Reads of the audit trail, its checkpoints and the 情報提供等記録."""

    async def audit_rows(self, page: int = 2000) -> AsyncIterator[AuditRow]:
        """Every audit row in order."""
        last = 0
        while True:
            rows = await self._fetch("audit_page", last, page)
            for row in rows:
                yield audit_row(row)
            if len(rows) < page:
                return
            last = rows[-1]["seq"]

    async def checkpoints(self) -> list[Checkpoint]:
        """Every signed checkpoint."""
        return [Checkpoint(**row) for row in await self._fetch("checkpoints")]

    async def audit_search(
        self,
        *,
        actor: str | None,
        action: str | None,
        subject: str | None,
        municipality: str | None,
        since: datetime | None,
        limit: int,
        offset: int,
    ) -> list[AuditRow]:
        """Audit rows matching the filters, newest first."""
        rows = await self._fetch(
            "audit_search", actor, action, subject, municipality, since, limit, offset
        )
        return [audit_row(row) for row in rows]

    async def last_detail(self, action: str) -> dict[str, Any] | None:
        """The detail of the latest audit row of an action."""
        row = await self._fetchrow("audit_last_of", action)
        return None if row is None else dict(_json(row["detail"]))

    async def provision_records(self, municipality: str | None, limit: int) -> list[ProvisionRow]:
        """The latest 情報提供等記録 where the municipality is a party (or all)."""
        rows = await self._fetch("provision_records_of", municipality, limit)
        return [ProvisionRow.of(row) for row in rows]
