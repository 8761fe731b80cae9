"""PostgreSQL state of the systems the adapters play, in their own databases (schemas
`ims`, `intermediate`, `vrs` of a city's adapter database, `nws` of the network's).

Each store takes an `Executor`: inside a delivery it runs on the inbox's transaction, so
what a handler writes commits with the delivery's dedupe row. The residents and VRS's
targets are sealed under the municipality's data keys (R48, `sealed`): the stores encrypt
on write, open on read and find a target by My Number through its blind index, so callers
see the same rows as before.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from adapters.ports import (
    PERMIT_COLUMNS,
    RECORD_COLUMNS,
    RESIDENT_COLUMNS,
    TARGET_COLUMNS,
    ActEntry,
    ApplicationEntry,
    Row,
)
from adapters.store.atrest import DataKeys
from adapters.store.intermediate import Executor
from adapters.store.queries import query
from adapters.store.sealed import RESIDENTS, TARGETS, SealedTable
from storekit.translate import translated

__all__ = [
    "PgActLog",
    "PgApplicationLog",
    "PgIntermediateBook",
    "PgNetworkBook",
    "PgResidents",
    "PgVrsBook",
]


@dataclass
class PgActLog:
    """An edge's act log, `ims.edge_acts` (health management) or `vrs.edge_acts` (VRS)."""

    db: Executor
    schema: str

    def __post_init__(self) -> None:
        if self.schema not in ("ims", "vrs"):
            raise ValueError("schema: ims or vrs")

    async def log(self, operation: str, file_sha256: str, entries: Sequence[ActEntry]) -> None:
        """Keep the entries of one file of one request folder; a line already kept stays."""
        if not entries:
            return
        columns = [
            [e.line for e in entries],
            [e.operator for e in entries],
            [e.terminal for e in entries],
            [e.outcome for e in entries],
            [e.reason for e in entries],
        ]
        with translated():
            await self.db.execute(
                query(f"{self.schema}_acts_log"), operation, file_sha256, *columns
            )

    async def rows(self) -> list[Row]:
        """Every entry, oldest first, with the time it was kept (for the tests and an
        auditor's look)."""
        with translated():
            rows = await self.db.fetch(query(f"{self.schema}_acts"))
        return [dict(r) for r in rows]


@dataclass
class PgApplicationLog:
    """The certificate center's record of applications, `kiosk.applications`."""

    db: Executor

    async def known(self, application_id: UUID) -> bool:
        """Whether an application with this id was made already (taken or refused)."""
        with translated():
            return bool(await self.db.fetchval(query("kiosk_application_known"), application_id))

    async def log(self, entry: ApplicationEntry) -> None:
        """Keep one attempt."""
        with translated():
            await self.db.execute(
                query("kiosk_applications_log"),
                entry.application_id,
                entry.channel,
                entry.terminal,
                entry.operator,
                entry.id_document,
                entry.id_checked_by,
                entry.id_checked_at,
                entry.outcome,
                entry.reason,
            )

    async def rows(self) -> list[Row]:
        """Every entry, oldest first (for the tests and an auditor's look)."""
        with translated():
            rows = await self.db.fetch(query("kiosk_applications"))
        return [dict(r) for r in rows]


@dataclass
class PgResidents:
    """The health-management system's register of residents (F1), its personal columns
    sealed under the city's data keys."""

    db: Executor
    keys: DataKeys

    async def put(self, resident: Row) -> tuple[bool, str | None]:
        """Insert or update one resident; (new?, status before)."""
        sealed = RESIDENTS.sealed(self.keys, {k: resident[k] for k in RESIDENT_COLUMNS})
        with translated():
            rows = await self.db.fetch(
                query("ims_resident_put"), *(sealed[k] for k in RESIDENT_COLUMNS)
            )
        return bool(rows[0]["inserted"]), rows[0]["before"]

    async def get(self, person: str) -> Row | None:
        """One resident by 団体内統合宛名番号."""
        with translated():
            rows = await self.db.fetch(query("ims_resident"), person)
        return _opened(RESIDENTS, self.keys, rows)

    async def by_basic_code(self, basic_code: str) -> Row | None:
        """One resident by 基本コード."""
        with translated():
            rows = await self.db.fetch(query("ims_resident_by_basic_code"), basic_code)
        return _opened(RESIDENTS, self.keys, rows)

    async def mark_coded(self, person: str) -> None:
        """Note that the 符号 acquisition information was sent for the person (F5)."""
        with translated():
            await self.db.execute(query("ims_coded"), person)

    async def mark_targeted(self, people: Sequence[str]) -> None:
        """Note that these people's targets and notices were sent (F11, F2)."""
        with translated():
            await self.db.execute(query("ims_targeted"), list(people))

    async def mark_flagged(self, person: str, status: str) -> None:
        """Note the status last flagged to VRS for the person (F16)."""
        with translated():
            await self.db.execute(query("ims_flagged"), person, status)

    async def put_dose(self, person: str, dose: Row) -> None:
        """Record (or correct) one dose of a person (F3)."""
        keys = ("vaccine_type", "dose_number", "administered_on", "lot_number", "manufacturer")
        with translated():
            await self.db.execute(query("ims_dose_put"), person, *(dose[k] for k in keys))

    async def history(self, person: str) -> list[Row]:
        """A person's doses in date order (what the 副本 registers, F4)."""
        with translated():
            return [dict(r) for r in await self.db.fetch(query("ims_history"), person)]

    async def histories(self) -> dict[str, list[Row]]:
        """Every person's doses in date order (the original the 副本 is checked against)."""
        with translated():
            rows = await self.db.fetch(query("ims_all_doses"))
        found: dict[str, list[Row]] = {}
        for row in rows:
            found.setdefault(row["person"], []).append(
                {k: v for k, v in dict(row).items() if k != "person"}
            )
        return found


def _first(rows: Sequence[Any]) -> Row | None:
    return dict(rows[0]) if rows else None


def _opened(table: SealedTable, keys: DataKeys, rows: Sequence[Any]) -> Row | None:
    return table.opened(keys, rows[0]) if rows else None


@dataclass
class PgIntermediateBook:
    """The intermediate server's list copy, permits, inquiries and 情報提供等記録."""

    db: Executor

    async def put_list(self, version: str, rows: list[Any]) -> None:
        """Keep a distributed list (F8)."""
        with translated():
            await self.db.execute(query("is_list_put"), version, json.dumps(rows))

    async def latest_list(self) -> tuple[str, list[Any]] | None:
        """The newest list received, if any."""
        with translated():
            row = _first(await self.db.fetch(query("is_list_latest")))
        if row is None:
            return None
        rows = row["rows"]
        return row["version"], json.loads(rows) if isinstance(rows, str) else rows

    async def put_permit(self, permit_id: UUID, inquiry_id: UUID, permit: dict[str, Any]) -> None:
        """Keep a permit for an inquiry to this city."""
        with translated():
            await self.db.execute(query("is_permit_put"), permit_id, inquiry_id, json.dumps(permit))

    async def permit(self, permit_id: UUID) -> dict[str, Any] | None:
        """A permit received, as JSON."""
        with translated():
            raw = await self.db.fetchval(query("is_permit"), permit_id)
        return None if raw is None else json.loads(raw) if isinstance(raw, str) else raw

    async def put_inquiry(  # noqa: PLR0917 - one column each
        self, inquiry_id: UUID, person: str, provider: str, procedure: str, item: str, at: datetime
    ) -> None:
        """Remember an outbound inquiry until its result comes back (F6)."""
        with translated():
            await self.db.execute(
                query("is_inquiry_put"), inquiry_id, person, provider, procedure, item, at
            )

    async def inquiry(self, inquiry_id: UUID) -> Row | None:
        """An outbound inquiry, if still kept."""
        with translated():
            return _first(await self.db.fetch(query("is_inquiry"), inquiry_id))

    async def set_state(self, inquiry_id: UUID, state: str) -> None:
        """Move an unfinished inquiry on (sent -> permitted)."""
        with translated():
            await self.db.execute(query("is_inquiry_state"), inquiry_id, state)

    async def finish(
        self, inquiry_id: UUID, state: str, result: dict[str, Any], at: datetime, until: datetime
    ) -> None:
        """Keep an inquiry's result until `until` (R42)."""
        with translated():
            await self.db.execute(
                query("is_inquiry_finish"), inquiry_id, state, json.dumps(result), at, until
            )

    async def purge(self, now: datetime, stale_before: datetime | None = None) -> list[UUID]:
        """Delete the results whose time has come, and inquiries still unfinished that were
        asked before `stale_before` (R42); the ids deleted."""
        with translated():  # `requested_at <= NULL` holds for no row
            rows = await self.db.fetch(query("is_inquiry_purge"), now, stale_before)
        return [r["inquiry_id"] for r in rows]

    async def record(self, **fields: Any) -> None:
        """Write or complete this server's 情報提供等記録 of an inquiry or provision (R47)."""
        with translated():
            await self.db.execute(query("is_record_put"), *(fields[n] for n in RECORD_COLUMNS))

    async def record_outcome(self, reply_id: UUID, outcome: str) -> bool:
        """Say what became of a reply this server provided, in its 情報提供等記録."""
        with translated():
            return bool(await self.db.fetch(query("is_record_outcome"), reply_id, outcome))

    async def records_about(self, subject: str, limit: int) -> list[Row]:
        """The 情報提供等記録 about the person this agency's 符号 `subject` names that may be
        shown to them (none marked 不開示), newest first, at most `limit`."""
        with translated():
            rows = await self.db.fetch(query("is_records_about"), subject, limit)
        return [dict(r) for r in rows]

    async def records(self) -> list[Row]:
        """Every 情報提供等記録 kept here."""
        with translated():
            return [dict(r) for r in await self.db.fetch(query("is_records"))]

    async def put_attestation(self, held_message_id: UUID, content_sha256: str) -> None:
        """Keep the approved digest of a provider's held reply (R37)."""
        with translated():
            await self.db.execute(query("is_attestation_put"), held_message_id, content_sha256)

    async def attestation(self, held_message_id: UUID) -> str | None:
        """The approved digest of a provider's reply, if its approval arrived."""
        with translated():
            row = _first(await self.db.fetch(query("is_attestation"), held_message_id))
        return None if row is None else str(row["content_sha256"])


@dataclass
class PgVrsBook:
    """One city's part of VRS: targets and tickets, doses, transfer-in inquiries; the
    targets' personal columns sealed under the city's data keys."""

    db: Executor
    keys: DataKeys

    async def put_target(self, target: Row) -> None:
        """Register a person due and their ticket (F11)."""
        sealed = TARGETS.sealed(self.keys, {k: target[k] for k in TARGET_COLUMNS})
        columns = (*TARGET_COLUMNS, *TARGETS.indexed.values())
        with translated():
            await self.db.execute(query("vrs_target_put"), *(sealed[k] for k in columns))

    async def target(
        self, *, ticket: str | None = None, my_number: str | None = None
    ) -> Row | None:
        """A target by ticket number or, through its blind index, My Number."""
        value: str | list[bytes]
        if ticket:
            name, value = "vrs_target_by_ticket", ticket
        elif my_number is not None:
            name, value = (
                "vrs_target_by_my_number",
                TARGETS.lookup(self.keys, "my_number", my_number),
            )
        else:  # `my_number = NULL` matches nobody
            return None
        with translated():
            rows = await self.db.fetch(query(name), value)
        return _opened(TARGETS, self.keys, rows)

    async def set_status(self, basic_code: str, status: str, on: date) -> bool:
        """Flag a target moved out, deceased or cleared (F16); False if unknown."""
        with translated():
            return bool(await self.db.fetch(query("vrs_target_status"), basic_code, status, on))

    async def put_dose(self, ticket: str, number: int, dose: dict[str, Any], source: str) -> bool:
        """Record a dose once; False if that dose of that ticket was recorded already."""
        with translated():
            rows = await self.db.fetch(
                query("vrs_dose_put"), ticket, number, json.dumps(dose), source
            )
        return bool(rows)

    async def doses(self, ticket: str) -> list[dict[str, Any]]:
        """A ticket's doses in order."""
        with translated():
            rows = await self.db.fetch(query("vrs_doses_of"), ticket)
        return [json.loads(r["dose"]) if isinstance(r["dose"], str) else r["dose"] for r in rows]

    async def given_elsewhere(self, ticket: str) -> frozenset[int]:
        """The numbers of a ticket's doses another city gave (taken in on a transfer)."""
        with translated():
            rows = await self.db.fetch(query("vrs_doses_given_elsewhere"), ticket)
        return frozenset(int(r["dose_number"]) for r in rows)

    async def unexported(self, limit: int) -> list[Row]:
        """Doses not yet exported to health management (F13)."""
        with translated():
            return [dict(r) for r in await self.db.fetch(query("vrs_unexported"), limit)]

    async def mark_exported(self, keys: Sequence[tuple[str, int]]) -> None:
        """Note the doses an export carried."""
        with translated():
            await self.db.execute(
                query("vrs_mark_exported"), [k[0] for k in keys], [k[1] for k in keys]
            )

    async def put_transfer(self, inquiry_id: UUID, former: str, ticket: str | None) -> None:
        """Remember a transfer-in inquiry (F14)."""
        with translated():
            await self.db.execute(query("vrs_transfer_put"), inquiry_id, former, ticket)

    async def transfer(self, inquiry_id: UUID) -> Row | None:
        """A transfer-in inquiry sent from here."""
        with translated():
            return _first(await self.db.fetch(query("vrs_transfer"), inquiry_id))

    async def transfer_answered(self, inquiry_id: UUID, state: str, doses: int) -> None:
        """Note the former city's answer."""
        with translated():
            await self.db.execute(query("vrs_transfer_answered"), inquiry_id, state, doses)


@dataclass
class PgNetworkBook:
    """The network's 符号 directory and the permits it issued."""

    db: Executor

    async def put_code(self, agency: str, code: str, individual: bytes) -> None:
        """Register one agency's 符号 for an individual (F5)."""
        with translated():
            await self.db.execute(query("nws_code_put"), agency, code, individual)

    async def convert(self, agency: str, code: str, to_agency: str) -> str | None:
        """The other agency's 符号 for the same individual, if it has one."""
        with translated():
            return await self.db.fetchval(query("nws_code_convert"), agency, code, to_agency)  # type: ignore[no-any-return]

    async def put_permit(self, permit: Row) -> None:
        """Keep a permit the network issued (R30)."""
        with translated():
            await self.db.execute(query("nws_permit_put"), *(permit[k] for k in PERMIT_COLUMNS))

    async def permit(self, permit_id: UUID) -> Row | None:
        """A permit by id."""
        with translated():
            return _first(await self.db.fetch(query("nws_permit"), permit_id))

    async def permit_for(self, inquiry_id: UUID) -> Row | None:
        """The permit issued for an inquiry."""
        with translated():
            return _first(await self.db.fetch(query("nws_permit_for_inquiry"), inquiry_id))

    async def permit_by_correlation(self, correlation_id: UUID) -> Row | None:
        """The permit of the inquiry a reply belongs to."""
        with translated():
            return _first(await self.db.fetch(query("nws_permit_by_correlation"), correlation_id))

    async def answered(self, inquiry_id: UUID) -> None:
        """Note that the provider's reply passed."""
        with translated():
            await self.db.execute(query("nws_permit_answered"), inquiry_id)
