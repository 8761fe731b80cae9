"""PostgreSQL side of the approval desk: staff, sessions, held messages, the audit trail.

The logic lives in `hub.desk`; this module runs its statements (named in desk.sql) and
holds its transactions. A decision on a held message runs in one transaction that locks
the held row, so two approvers clicking at once are served one after the other.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import asyncpg

from hub.audit import GENESIS, AuditRow, Checkpoint, row_hash
from hub.pipeline import JournalEntry
from hub.store.postgres import MIGRATIONS_DIR, record_columns
from hub.store.queries import query
from hub.store.rows import HeldMessage, HeldRow, ProvisionRow, StaffRow, StaffWithPassword
from storekit.migrate import migrated_pool
from storekit.translate import Connection, translated

__all__ = ["DeskTransaction", "PgDesk"]


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


@dataclass
class DeskTransaction:
    """Statements that commit together."""

    connection: Connection

    async def lock_held(self, message_id: str) -> HeldMessage | None:
        """The held message, locked until this transaction ends."""
        with translated():
            row = await self.connection.fetchrow(query("held_lock"), message_id)
        return None if row is None else HeldMessage.of(dict(row))

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
            digest = row_hash(prev, row.content())
            await self.connection.execute(
                query("audit_insert"),
                seq,
                at,
                actor,
                action,
                subject,
                municipality,
                None if row.terminal is None else json.dumps(row.terminal),
                json.dumps(row.detail),
                prev,
                digest,
            )
        return replace(row, hash=digest)

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


class PgDesk:
    """The desk's statements on an asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def connect(cls, dsn: str, *, size: int = 4, command_timeout: float = 30.0) -> PgDesk:
        """Open the pool and apply pending migrations."""
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

    async def _fetch(self, name: str, *args: Any) -> list[dict[str, Any]]:
        with translated():
            rows = await self._pool.fetch(query(name), *args)
        return [dict(row) for row in rows]

    async def _fetchrow(self, name: str, *args: Any) -> dict[str, Any] | None:
        with translated():
            row = await self._pool.fetchrow(query(name), *args)
        return None if row is None else dict(row)

    async def add_staff(
        self,
        tx: DeskTransaction,
        *,
        user_id: str,
        kind: str,
        roles: Sequence[str],
        municipality: str,
        department: str,
        may_reveal: bool,
        password_hash: str | None,
    ) -> bool:
        """Create an account; False if the id is taken."""
        with translated():
            created = await tx.connection.fetchval(
                query("staff_add"),
                user_id,
                kind,
                list(roles),
                municipality,
                department,
                may_reveal,
                password_hash,
            )
        return created is not None

    async def staff(self, user_id: str) -> StaffWithPassword | None:
        """An account by id, with its password hash."""
        row = await self._fetchrow("staff_get", user_id)
        return None if row is None else StaffWithPassword.of(row)

    async def staff_list(self) -> list[StaffRow]:
        """Every account, by id."""
        return [StaffRow.of(row) for row in await self._fetch("staff_list")]

    async def disable_staff(self, user_id: str, tx: DeskTransaction) -> tuple[int, int]:
        """(accounts disabled: 0 or 1, sessions and tokens ended)."""
        with translated():
            row = await tx.connection.fetchrow(query("staff_disable"), user_id)
        return (0, 0) if row is None else (int(row["disabled"]), int(row["ended"]))

    async def set_password(self, tx: DeskTransaction, user_id: str, digest: str) -> None:
        """Replace a person's password hash."""
        with translated():
            await tx.connection.execute(query("staff_set_password"), user_id, digest)

    async def add_session(
        self,
        tx: DeskTransaction,
        *,
        digest: str,
        user_id: str,
        kind: str,
        label: str | None,
        client: str,
        agent: str,
        seconds: float,
    ) -> None:
        """Store a session or API token by the digest of its secret."""
        with translated():
            await tx.connection.execute(
                query("session_add"), digest, user_id, kind, label, client, agent, seconds
            )

    async def failed_logins(self, user_id: str, seconds: float) -> int:
        """Failed log-ins of an account within the last `seconds`."""
        with translated():
            return int(await self._pool.fetchval(query("failed_logins"), user_id, seconds))

    async def session_staff(self, digest: str) -> StaffRow | None:
        """The account behind a live session or token."""
        row = await self._fetchrow("session_staff", digest)
        return None if row is None else StaffRow.of(row)

    async def end_session(self, digest: str, tx: DeskTransaction) -> str | None:
        """End a session; the user id it belonged to, or None if it was not live."""
        with translated():
            user = await tx.connection.fetchval(query("session_end"), digest)
        return None if user is None else str(user)

    async def held_page(
        self, municipality: str, department: str | None, state: str | None, limit: int, offset: int
    ) -> tuple[list[HeldRow], int]:
        """A page of held messages (no content) and the total that match."""
        rows = await self._fetch("held_page", municipality, department, state, limit, offset)
        with translated():
            total = await self._pool.fetchval(query("held_count"), municipality, department, state)
        return [HeldRow.of(row) for row in rows], int(total)

    async def held_without_department(self) -> list[tuple[str, bytes]]:
        """(message id, journaled bytes) of held rows that predate departments."""
        rows = await self._fetch("held_without_department")
        return [(row["message_id"], bytes(row["canonical"])) for row in rows]

    async def set_department(self, message_id: str, department: str) -> None:
        """Give a held row that predates departments its department."""
        with translated():
            await self._pool.execute(query("held_set_department"), message_id, department)

    async def held(self, message_id: str) -> HeldMessage | None:
        """One held message with its journaled bytes."""
        row = await self._fetchrow("held_get", message_id)
        return None if row is None else HeldMessage.of(row)

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
