"""The desk store's operator console and re-drives (operations.sql): throughput, dead
letters and held messages by age, the journal browsed a page at a time, the refused rows a
re-drive selection names, and the re-drive's own statements (hub/redrive.py).

The rows come back as frozen records, metadata only; the one statement that reads a
payload is `next_redrive`, for the hub to triage the journaled bytes again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from hub.entries import JournalEntry
from hub.redrive import Outcome
from hub.store.postgres import record_columns
from hub.store.queries import query
from hub.store.statements import PoolStatements, TransactionStatements
from storekit.translate import translated

__all__ = [
    "Candidate",
    "HeldAge",
    "JournalFilter",
    "JournalLine",
    "OperationsReads",
    "PendingRedrive",
    "RedriveSelection",
    "RedriveTransaction",
]


def _set_fields(record: Any) -> dict[str, str]:
    """The fields of a record that are set, as text (times in ISO 8601)."""
    return {
        f.name: v.isoformat() if isinstance(v, datetime) else str(v)
        for f in fields(record)
        if (v := getattr(record, f.name)) is not None
    }


@dataclass(frozen=True, slots=True)
class JournalFilter:
    """What the message browser narrows the journal to (None: any)."""

    message_id: str | None = None
    correlation_id: str | None = None
    kind: str | None = None
    sender: str | None = None
    """The sender's system."""
    recipient: str | None = None
    """The recipient's system."""
    decision: str | None = None
    reason: str | None = None
    """A reason code."""
    since: datetime | None = None
    until: datetime | None = None

    def as_dict(self) -> dict[str, str]:
        """The filters set, as text (for links and the audit trail)."""
        return _set_fields(self)


@dataclass(frozen=True, slots=True)
class RedriveSelection:
    """The refused rows a re-drive names: one journal row, or a reason code (and a time
    range, a kind)."""

    journal_seq: int | None = None
    reason_code: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    kind: str | None = None

    def as_dict(self) -> dict[str, str]:
        """The selection, as text (for the forms and the audit trail)."""
        return _set_fields(self)


@dataclass(frozen=True, slots=True)
class JournalLine:
    """A journal row in the browser: its metadata, and how re-drives touch it."""

    seq: int
    message_id: str | None
    kind: str | None
    sender_system: str | None
    municipality: str | None
    recipient_system: str | None
    recipient_municipality: str | None
    procedure: str | None
    correlation_id: str | None
    received_at: datetime
    decision: str
    reason_code: str | None
    redrive_of: int | None
    """The journal row this one is the re-drive of."""
    redrive_state: str | None
    """The state of this row's latest re-drive, if it was re-driven."""


@dataclass(frozen=True, slots=True)
class HeldAge:
    """A message waiting for a 所属長, and for how long."""

    message_id: str
    journal_seq: int
    municipality: str
    department: str
    reason_code: str
    kind: str | None
    held_at: datetime
    expires_at: datetime
    age_seconds: float


@dataclass(frozen=True, slots=True)
class Candidate:
    """A refused row a re-drive selection names."""

    seq: int
    reason_code: str
    kind: str | None
    received_at: datetime


@dataclass(frozen=True, slots=True)
class PendingRedrive:
    """A re-drive the hub takes up: its row, and the journaled bytes to triage again."""

    id: int
    journal_seq: int
    canonical: bytes | None
    received_at: datetime
    reason_code: str | None


class OperationsReads(PoolStatements):
    """What the operator console reads."""

    async def throughput(
        self, seconds: float, municipality: str | None
    ) -> list[tuple[str, str, int]]:
        """(kind, decision, count) of the journal rows of the last `seconds`."""
        rows = await self._fetch("ops_throughput", seconds, municipality)
        return [(r["kind"], r["decision"], int(r["n"])) for r in rows]

    async def dead_letters(
        self, seconds: float, municipality: str | None
    ) -> list[tuple[str, int, datetime]]:
        """(reason code, count, latest) of the refusals of the last `seconds`."""
        rows = await self._fetch("ops_dead_letters", seconds, municipality)
        return [(r["reason_code"], int(r["n"]), r["last_at"]) for r in rows]

    async def held_ages(self, municipality: str | None, limit: int) -> tuple[list[HeldAge], int]:
        """The oldest messages still held, with their age, and how many are held."""
        rows = await self._fetch("ops_held", municipality, limit)
        with translated():
            total = await self._pool.fetchval(query("ops_held_count"), municipality)
        held = [
            HeldAge(
                **{k: v for k, v in row.items() if k != "db_now"},
                age_seconds=(row["db_now"] - row["held_at"]).total_seconds(),
            )
            for row in rows
        ]
        return held, int(total)

    async def redrives_pending(self) -> int:
        """Re-drives the hub has not taken up yet."""
        with translated():
            return int(await self._pool.fetchval(query("ops_redrives_pending")))

    async def browse(
        self, where: JournalFilter, municipality: str | None, after: int | None, limit: int
    ) -> list[JournalLine]:
        """A page of the journal, newest first, below the seq `after`."""
        rows = await self._fetch(
            "journal_browse",
            after,
            where.message_id,
            where.correlation_id,
            where.kind,
            where.sender,
            where.recipient,
            where.decision,
            where.reason,
            where.since,
            where.until,
            municipality,
            limit,
        )
        return [JournalLine(**row) for row in rows]

    async def redrive_candidates(
        self,
        selection: RedriveSelection,
        codes: Sequence[str],
        municipality: str | None,
        limit: int,
    ) -> list[Candidate]:
        """The refused rows of `selection` with one of `codes` that may be re-driven."""
        rows = await self._fetch(
            "redrive_candidates",
            list(codes),
            selection.journal_seq,
            selection.since,
            selection.until,
            selection.kind,
            municipality,
            limit,
        )
        return [Candidate(**row) for row in rows]


class RedriveTransaction(TransactionStatements):
    """A re-drive's statements inside its transaction: queued by the desk, carried out
    by the hub."""

    async def request_redrives(
        self, seqs: Sequence[int], requested_by: str, selection_sha256: str
    ) -> list[tuple[int, int]]:
        """Queue a re-drive of each journal row; (re-drive id, journal seq) of each queued
        (a row with one pending already is skipped)."""
        with translated():
            rows = await self.connection.fetch(
                query("redrive_request"), list(seqs), requested_by, selection_sha256
            )
        return [(int(r["id"]), int(r["journal_seq"])) for r in rows]

    async def next_redrive(self) -> PendingRedrive | None:
        """The oldest pending re-drive, locked until this transaction ends."""
        with translated():
            row = await self.connection.fetchrow(query("redrive_next"))
        if row is None:
            return None
        kept = row["canonical"]
        return PendingRedrive(
            id=row["id"],
            journal_seq=row["journal_seq"],
            canonical=None if kept is None else bytes(kept),
            received_at=row["received_at"],
            reason_code=row["reason_code"],
        )

    async def record_redriven(self, entry: JournalEntry, hold_seconds: float) -> int | None:
        """Journal a re-triaged entry (its outbox row due at once, a hold for the hold
        period); its journal seq, or None if its dedupe key was journaled already."""
        with translated():
            new = await self.connection.fetch(
                query("record_batch"), *record_columns([entry]), 0.0, hold_seconds
            )
        if not new:
            return None
        under = await self.journaled_under(entry.dedupe_key)
        return None if under is None else under[0]

    async def journaled_under(self, dedupe_key: str) -> tuple[int, bytes | None] | None:
        """(seq, bytes, None if pruned) of the journal row under a dedupe key."""
        with translated():
            row = await self.connection.fetchrow(query("journaled_under"), dedupe_key)
        if row is None:
            return None
        kept = row["canonical"]
        return int(row["seq"]), None if kept is None else bytes(kept)

    async def finish_redrive(self, redrive_id: int, outcome: Outcome) -> None:
        """Write what came of a re-drive."""
        with translated():
            await self.connection.execute(
                query("redrive_finish"),
                redrive_id,
                outcome.state.value,
                outcome.result_seq,
                outcome.reason_code,
                outcome.reason,
            )
