"""The intermediate server's own book in memory (tests, simulators): its copy of the
permitted-inquiry list (F8), the permits for inquiries to its city, its outbound inquiries
and their results (F6, R42) and its 情報提供等記録 (R47). The `IntermediateBook` port as
`hub.store.systems.PgIntermediateBook` keeps it in schema `intermediate`, row for row."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from adapters.kit.stored import (
    ConstraintViolation,
    jsonb,
    not_null,
    pg_date,
    pg_now,
    pg_uuid,
    timestamptz,
)
from adapters.ports import RECORD_COLUMNS, IntermediateBook, Row

__all__ = ["IntermediateBook", "MemoryIntermediateBook"]

RECORD_NOT_NULL = tuple(
    c for c in RECORD_COLUMNS if c not in ("provided_at", "subject", "reply_id", "operator")
)
ROLES = ("inquirer", "provider")
INQUIRY_NOT_NULL = ("inquiry_id", "person", "provider", "procedure", "data_item", "requested_at")


@dataclass
class MemoryIntermediateBook:
    """The in-memory book (tests, simulators): one event loop, so no locks.

    JSON is kept as the text jsonb would give back, so what comes out is a copy, decoded
    as the PostgreSQL book decodes it.
    """

    lists: dict[str, tuple[datetime, str]] = field(default_factory=dict)
    permits: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    inquiries: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    provision_records: list[dict[str, Any]] = field(default_factory=list)
    attestations: dict[UUID, str] = field(default_factory=dict)

    async def put_list(self, version: str, rows: list[Any]) -> None:
        """Keep a distributed list (F8); a version already kept stays as first received."""
        document = jsonb(rows)
        not_null({"version": version}, ("version",))
        if version in self.lists:
            return
        # Each PostgreSQL call commits on its own, so no two lists share a `received_at`;
        # a clock too coarse to tell them apart must not make an older one the latest.
        latest = max((at for at, _ in self.lists.values()), default=None)
        received = pg_now()
        if latest is not None and received <= latest:
            received = latest + timedelta(microseconds=1)
        self.lists[version] = (received, document)

    async def latest_list(self) -> tuple[str, list[Any]] | None:
        """The list received last, if any (on a tie, the lowest version, as the SQL sorts)."""
        if not self.lists:
            return None
        last = max(at for at, _ in self.lists.values())
        version = min(v for v, (at, _) in self.lists.items() if at == last)
        rows: list[Any] = json.loads(self.lists[version][1])
        return version, rows

    async def put_permit(self, permit_id: UUID, inquiry_id: UUID, permit: dict[str, Any]) -> None:
        """Keep a permit for an inquiry to this city; a permit id already kept stays."""
        row: dict[str, Any] = {
            "permit_id": pg_uuid(permit_id),
            "inquiry_id": pg_uuid(inquiry_id),
            "permit": jsonb(permit),
            "received_at": pg_now(),
        }
        not_null(row, ("permit_id", "inquiry_id"))
        self.permits.setdefault(row["permit_id"], row)

    async def permit(self, permit_id: UUID) -> dict[str, Any] | None:
        """A permit received, as JSON."""
        row = self.permits.get(pg_uuid(permit_id))
        if row is None:
            return None
        permit: dict[str, Any] = json.loads(row["permit"])
        return permit

    async def put_inquiry(  # noqa: PLR0917 - one column each
        self, inquiry_id: UUID, person: str, provider: str, procedure: str, item: str, at: datetime
    ) -> None:
        """Remember an outbound inquiry until its result comes back (F6); once."""
        row: dict[str, Any] = {
            "inquiry_id": pg_uuid(inquiry_id),
            "person": person,
            "provider": provider,
            "procedure": procedure,
            "data_item": item,
            "requested_at": timestamptz(at),
            "state": "sent",
            "result": None,
            "finished_at": None,
            "delete_after": None,
        }
        not_null(row, INQUIRY_NOT_NULL)
        self.inquiries.setdefault(row["inquiry_id"], row)

    async def inquiry(self, inquiry_id: UUID) -> Row | None:
        """An outbound inquiry, if still kept (its result as jsonb text, as the SQL gives)."""
        row = self.inquiries.get(pg_uuid(inquiry_id))
        return None if row is None else dict(row)

    async def set_state(self, inquiry_id: UUID, state: str) -> None:
        """Move an unfinished inquiry on (sent -> permitted); a finished one stays."""
        row = self.inquiries.get(pg_uuid(inquiry_id))
        if row is not None and row["finished_at"] is None:
            not_null({"state": state}, ("state",))
            row["state"] = state

    async def finish(
        self, inquiry_id: UUID, state: str, result: dict[str, Any], at: datetime, until: datetime
    ) -> None:
        """Keep an inquiry's result until `until` (R42), finished or not before."""
        change = {
            "state": state,
            "result": jsonb(result),
            "finished_at": timestamptz(at),
            "delete_after": timestamptz(until),
        }
        row = self.inquiries.get(pg_uuid(inquiry_id))
        if row is not None:
            not_null(change, ("state",))
            row.update(change)

    async def purge(self, now: datetime, stale_before: datetime | None = None) -> list[UUID]:
        """Delete the results whose time has come, and unfinished inquiries asked before
        `stale_before` (R42); the ids deleted."""
        cutoff = timestamptz(now)
        stale = None if stale_before is None else timestamptz(stale_before)
        due = [
            inquiry_id
            for inquiry_id, row in self.inquiries.items()
            if (row["delete_after"] is not None and row["delete_after"] <= cutoff)
            or (stale is not None and row["finished_at"] is None and row["requested_at"] <= stale)
        ]
        for inquiry_id in due:
            del self.inquiries[inquiry_id]
        return due

    async def put_attestation(self, held_message_id: UUID, content_sha256: str) -> None:
        """Keep the approved digest of a provider's held reply; the first one stays."""
        self.attestations.setdefault(held_message_id, content_sha256)

    async def attestation(self, held_message_id: UUID) -> str | None:
        """The approved digest of a provider's reply, if its approval arrived."""
        return self.attestations.get(held_message_id)

    async def record(self, **fields: Any) -> None:
        """Write this server's 情報提供等記録 of an inquiry or provision (R47), or complete
        the one of the same inquiry and role with its provision time and outcome."""
        row = {n: fields[n] for n in RECORD_COLUMNS}
        row |= {
            "record_id": pg_uuid(row["record_id"]),
            "inquiry_id": pg_uuid(row["inquiry_id"]),
            "reply_id": None if row["reply_id"] is None else pg_uuid(row["reply_id"]),
            "requested_at": timestamptz(row["requested_at"]),
            "provided_at": timestamptz(row["provided_at"]),
            "retention_until": pg_date(row["retention_until"]),
        }
        not_null(row, RECORD_NOT_NULL)
        if row["role"] not in ROLES:
            raise ConstraintViolation("provision_records_role_check")
        for kept in self.provision_records:
            if (kept["inquiry_id"], kept["role"]) == (row["inquiry_id"], row["role"]):
                kept.update(provided_at=row["provided_at"], outcome=row["outcome"])
                kept["nondisclosure"] = kept["nondisclosure"] or row["nondisclosure"]
                for column in ("subject", "reply_id", "operator"):  # COALESCE, as the SQL does
                    kept[column] = row[column] if row[column] is not None else kept[column]
                return
        if any(kept["record_id"] == row["record_id"] for kept in self.provision_records):
            raise ConstraintViolation("provision_records_pkey")
        self.provision_records.append(row)

    async def record_outcome(self, reply_id: UUID, outcome: str) -> bool:
        """Say what became of a reply this server provided, in its 情報提供等記録."""
        found = False
        for kept in self.provision_records:
            if kept["reply_id"] == pg_uuid(reply_id) and kept["role"] == "provider":
                kept["outcome"], found = outcome, True
        return found

    async def records_about(self, subject: str, limit: int) -> list[Row]:
        """The 情報提供等記録 about a person that may be shown to them, newest first."""
        found: list[Row] = [
            dict(r)
            for r in self.provision_records
            if r["subject"] == subject and not r["nondisclosure"]
        ]
        found.sort(key=lambda r: r["role"])
        found.sort(key=lambda r: r["requested_at"], reverse=True)
        return found[:limit]

    async def records(self) -> list[Row]:
        """Every 情報提供等記録 kept here, by request time and role."""
        found: list[Row] = [dict(r) for r in self.provision_records]
        found.sort(key=lambda r: (r["requested_at"], r["role"]))
        return found
