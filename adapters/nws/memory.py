"""The network's book in memory (tests, simulators): who each agency's 符号 stands for
(F5), as a keyed hash of the individual, and the permits the network issued (R30). The
`NetworkBook` port as `hub.store.systems.PgNetworkBook` keeps it in schema `nws`, row for
row."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from adapters.kit.stored import ConstraintViolation, not_null, pg_now, pg_uuid, timestamptz
from adapters.ports import PERMIT_COLUMNS, NetworkBook, Row

__all__ = ["MemoryNetworkBook", "NetworkBook"]


@dataclass
class MemoryNetworkBook:
    """The in-memory network book (tests, simulators): one event loop, so no locks."""

    codes: dict[tuple[str, str], bytes] = field(default_factory=dict)
    individuals: dict[tuple[str, bytes], str] = field(default_factory=dict)
    permits: dict[UUID, dict[str, Any]] = field(default_factory=dict)

    async def put_code(self, agency: str, code: str, individual: bytes) -> None:
        """Register one agency's 符号 for an individual (F5). The first registration
        stands: a code already taken, or an individual who already has a code at the
        agency, leaves the directory as it was."""
        row = {"agency": agency, "code": code, "individual": individual}
        not_null(row, row)
        who = bytes(individual)  # bytea comes back as bytes, whatever buffer went in
        if (agency, code) in self.codes or (agency, who) in self.individuals:
            return
        self.codes[(agency, code)] = who
        self.individuals[(agency, who)] = code

    async def convert(self, agency: str, code: str, to_agency: str) -> str | None:
        """The other agency's 符号 for the same individual, if it has one."""
        who = self.codes.get((agency, code))
        return None if who is None else self.individuals.get((to_agency, who))

    async def put_permit(self, permit: Row) -> None:
        """Keep a permit the network issued (R30); one per inquiry, the first."""
        row = {k: permit[k] for k in PERMIT_COLUMNS}
        for column in ("permit_id", "inquiry_id", "correlation_id"):
            row[column] = pg_uuid(row[column])
        for column in ("issued_at", "expires_at"):
            row[column] = timestamptz(row[column])
        not_null(row, PERMIT_COLUMNS)
        if any(p["inquiry_id"] == row["inquiry_id"] for p in self.permits.values()):
            return
        if row["permit_id"] in self.permits:
            raise ConstraintViolation("permits_pkey")
        self.permits[row["permit_id"]] = row | {"answered_at": None}

    async def permit(self, permit_id: UUID) -> Row | None:
        """A permit by id."""
        found = self.permits.get(pg_uuid(permit_id))
        return None if found is None else dict(found)

    async def permit_for(self, inquiry_id: UUID) -> Row | None:
        """The permit issued for an inquiry."""
        return self._first("inquiry_id", inquiry_id)

    async def permit_by_correlation(self, correlation_id: UUID) -> Row | None:
        """The permit of the inquiry a reply belongs to (the first, should two share it)."""
        return self._first("correlation_id", correlation_id)

    def _first(self, column: str, value: UUID) -> Row | None:
        wanted = pg_uuid(value)
        found = next((p for p in self.permits.values() if p[column] == wanted), None)
        return None if found is None else dict(found)

    async def answered(self, inquiry_id: UUID) -> None:
        """Note that the provider's reply passed (the latest passing, if it passed twice)."""
        wanted, at = pg_uuid(inquiry_id), pg_now()
        for permit in self.permits.values():
            if permit["inquiry_id"] == wanted:
                permit["answered_at"] = at
