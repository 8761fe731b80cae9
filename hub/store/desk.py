"""PostgreSQL side of the approval desk: held messages, assembled with the accounts
(`accounts.py`) and the audit trail (`trail.py`) into one store.

The logic lives in `hub.desk`; this store runs its statements (named in desk.sql) and
holds its transactions. A decision on a held message runs in one transaction that locks
the held row, so two approvers clicking at once are served one after the other.

    PgDesk = AccountStatements (accounts.py) + TrailReads (trail.py)
             + ReviewReads (review.py) + OperationsReads (operations.py)
             + JourneyReads (journey.py) + the held reads
    DeskTransaction = TrailTransaction (trail.py) + RetentionTransaction (retention.py)
                      + RedriveTransaction (operations.py) + LoginTransaction
                      (accounts.py) + the held statements
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime

from hub.entries import JournalEntry
from hub.store.accounts import AccountStatements, LoginTransaction
from hub.store.journey import JourneyReads
from hub.store.operations import OperationsReads, RedriveTransaction
from hub.store.postgres import MIGRATIONS_DIR, record_columns
from hub.store.queries import query
from hub.store.retention import RetentionTransaction
from hub.store.review import ReviewReads
from hub.store.rows import HeldMessage, HeldRow, ImportBatch
from hub.store.trail import TrailReads, TrailTransaction
from storekit.migrate import migrated_pool
from storekit.translate import translated

__all__ = ["DeskTransaction", "PgDesk"]


class DeskTransaction(TrailTransaction, RetentionTransaction, RedriveTransaction, LoginTransaction):
    """Statements that commit together: a decision, its release and its audit rows."""

    async def lock_held(self, message_id: str) -> HeldMessage | None:
        """The held message, locked until this transaction ends."""
        with translated():
            row = await self.connection.fetchrow(query("held_lock"), message_id)
        return None if row is None else HeldMessage.of(dict(row))

    async def lock_import(
        self, batch: str, municipality: str, department: str
    ) -> list[tuple[HeldMessage, frozenset[str]]]:
        """The held rows of a manual import batch (R01) of a municipality's department,
        each with the operators who have checked it, locked until this transaction ends."""
        with translated():
            rows = await self.connection.fetch(
                query("import_batch_lock"), batch, municipality, department
            )
        return [(HeldMessage.of(dict(row)), frozenset(row["checked_by"])) for row in rows]

    async def check_import(self, message_id: str, user_id: str, at: datetime) -> bool:
        """Keep an operator's check of a held manual import row; False if it was kept
        already (the same person's check at the same moment)."""
        with translated():
            kept = await self.connection.fetchval(
                query("import_check_put"), message_id, user_id, at
            )
        return kept is not None

    async def due(self, limit: int) -> list[tuple[HeldMessage, datetime]]:
        """Held messages whose time ran out, locked (others' locked rows skipped), each
        with the database's time that found it due."""
        with translated():
            rows = await self.connection.fetch(query("held_due"), limit)
        return [(HeldMessage.of(dict(row)), row["db_now"]) for row in rows]

    async def decide(
        self,
        message_id: str,
        state: str,
        *,
        decided_by: str | None,
        decided_at: datetime,
        comment: str | None,
        content_sha256: str | None = None,
        released_at: datetime | None = None,
    ) -> None:
        """Write the decision on a held message."""
        with translated():
            await self.connection.execute(
                query("held_decide"),
                message_id,
                state,
                decided_by,
                decided_at,
                comment,
                content_sha256,
                released_at,
            )

    async def release(
        self, journal_seq: int, message_id: str, exchange: str, key: str, headers: dict[str, str]
    ) -> int:
        """Queue a journaled message for the relay to publish now; its outbox seq."""
        with translated():
            seq = await self.connection.fetchval(
                query("outbox_release"),
                journal_seq,
                message_id,
                exchange,
                key,
                json.dumps(headers),
            )
        return int(seq)

    async def record(self, entries: Sequence[JournalEntry]) -> None:
        """Journal the hub's own messages and queue them for the relay at once."""
        with translated():
            await self.connection.fetch(query("record_batch"), *record_columns(entries), 0.0, 1.0)

    async def provision(self, message_id: str, state: str, provided_at: datetime | None) -> None:
        """Bring the 情報提供等記録 of a held provision up to date."""
        with translated():
            await self.connection.execute(
                query("provision_decided"), message_id, state, provided_at
            )


class PgDesk(AccountStatements, TrailReads, ReviewReads, OperationsReads, JourneyReads):
    """The desk's statements on an asyncpg pool."""

    @classmethod
    async def connect(cls, dsn: str, *, size: int = 4, command_timeout: float = 30.0) -> PgDesk:
        """Open the pool and apply pending migrations (the desk's own role may not:
        SchemaNotCurrent if one is missing)."""
        return cls(
            await migrated_pool(dsn, MIGRATIONS_DIR, size=size, command_timeout=command_timeout)
        )

    async def close(self) -> None:
        """Close the pool."""
        await self._pool.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[DeskTransaction]:
        """A transaction; it commits when the block ends and rolls back if it raises."""
        with translated():
            async with self._pool.acquire() as connection, connection.transaction():
                yield DeskTransaction(connection)

    async def held_page(
        self, municipality: str, department: str | None, state: str | None, limit: int, offset: int
    ) -> tuple[list[HeldRow], int]:
        """A page of held messages (no content) and the total that match."""
        rows = await self._fetch("held_page", municipality, department, state, limit, offset)
        with translated():
            total = await self._pool.fetchval(query("held_count"), municipality, department, state)
        return [HeldRow.of(row) for row in rows], int(total)

    async def import_batches(
        self, municipality: str, department: str, limit: int
    ) -> list[ImportBatch]:
        """The manual imports held in a department, a batch a row, oldest first."""
        rows = await self._fetch("import_batches", municipality, department, limit)
        return [ImportBatch.of(row) for row in rows]

    async def held_without_department(self) -> list[tuple[str, bytes]]:
        """(message id, journaled bytes) of held rows that predate departments."""
        rows = await self._fetch("held_without_department")
        return [(row["message_id"], bytes(row["canonical"])) for row in rows]

    async def set_department(self, message_id: str, department: str) -> None:
        """Give a held row that predates departments its department."""
        with translated():
            await self._pool.execute(query("held_set_department"), message_id, department)

    async def held_gauges(self) -> list[tuple[str, str, str, int, float]]:
        """(municipality, department or '', reason code, count, oldest held_at as Unix
        time) of the messages still held."""
        with translated():
            rows = await self._pool.fetch(query("held_gauges"))
        return [
            (r["municipality"], r["department"], r["reason_code"], r["held"], float(r["oldest"]))
            for r in rows
        ]

    async def held(self, message_id: str) -> HeldMessage | None:
        """One held message with its journaled bytes."""
        row = await self._fetchrow("held_get", message_id)
        return None if row is None else HeldMessage.of(row)
