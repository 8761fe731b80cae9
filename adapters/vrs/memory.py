"""One city's part of VRS in memory (tests, simulators): targets and their tickets (F11),
doses recorded once (F12, F14), what is left to export (F13), flags (F16) and transfer-in
inquiries (F14). The `VrsBook` port as `hub.store.systems.PgVrsBook` keeps it in schema
`vrs`, row for row."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

from adapters.kit.stored import ConstraintViolation, jsonb, not_null, pg_date, pg_now, pg_uuid
from adapters.ports import TARGET_COLUMNS, Row, VrsBook

__all__ = ["MemoryVrsBook", "VrsBook"]

TARGET_NOT_NULL = tuple(c for c in TARGET_COLUMNS if c not in {"my_number", "name_kana"})


@dataclass
class MemoryVrsBook:
    """The in-memory VRS book (tests, simulators): one event loop, so no locks.

    A dose is kept as the text jsonb would give back: `doses` decodes it, `unexported`
    hands it over as that text, as the PostgreSQL book does.
    """

    targets: dict[str, dict[str, Any]] = field(default_factory=dict)
    dose_rows: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    transfers: dict[UUID, dict[str, Any]] = field(default_factory=dict)

    async def put_target(self, target: Row) -> None:
        """Register a person due and their ticket (F11); again, to update the person."""
        row = {k: target[k] for k in TARGET_COLUMNS}
        row["birth_date"] = pg_date(row["birth_date"])
        row["ticket_issued_on"] = pg_date(row["ticket_issued_on"])
        not_null(row, TARGET_NOT_NULL)
        kept = self.targets.get(row["basic_code"])
        if kept is not None:
            # The ticket and the birth date stay as first registered; a My Number, once
            # known, is not forgotten by a registration without one.
            if row["my_number"] is not None:
                kept["my_number"] = row["my_number"]
            kept.update(name=row["name"], name_kana=row["name_kana"], address=row["address"])
            return
        if self._by_ticket(row["ticket_number"]) is not None:
            raise ConstraintViolation("targets_ticket_number_key")
        row |= {"status": "active", "status_on": None, "registered_at": pg_now()}
        self.targets[row["basic_code"]] = row

    def _by_ticket(self, ticket: str | None) -> dict[str, Any] | None:
        return next((t for t in self.targets.values() if t["ticket_number"] == ticket), None)

    async def target(
        self, *, ticket: str | None = None, my_number: str | None = None
    ) -> Row | None:
        """A target by ticket number or, without a ticket, by My Number (should two
        targets share one: the active one, then the newest)."""
        if ticket:
            found = self._by_ticket(ticket)
        elif my_number is None:  # `my_number = NULL` matches nothing
            found = None
        else:
            found = max(
                (t for t in self.targets.values() if t["my_number"] == my_number),
                key=lambda t: (t["status"] == "active", t["registered_at"]),
                default=None,
            )
        return None if found is None else dict(found)

    async def set_status(self, basic_code: str, status: str, on: date) -> bool:
        """Flag a target moved out, deceased or cleared (F16); False if unknown."""
        day = pg_date(on)
        kept = self.targets.get(basic_code)
        if kept is None:
            return False
        not_null({"status": status}, ("status",))
        kept.update(status=status, status_on=day)
        return True

    async def put_dose(self, ticket: str, number: int, dose: dict[str, Any], source: str) -> bool:
        """Record a dose once; False if that dose of that ticket was recorded already."""
        row: dict[str, Any] = {
            "ticket_number": ticket,
            "dose_number": number,
            "dose": jsonb(dose),
            "source": source,
            "exported_at": None,
            "recorded_at": pg_now(),
        }
        not_null(row, ("ticket_number", "dose_number", "source"))
        if (ticket, number) in self.dose_rows:
            return False
        self.dose_rows[(ticket, number)] = row
        return True

    async def doses(self, ticket: str) -> list[dict[str, Any]]:
        """A ticket's doses in order."""
        numbers = sorted(n for t, n in self.dose_rows if t == ticket)
        return [json.loads(self.dose_rows[(ticket, n)]["dose"]) for n in numbers]

    async def given_elsewhere(self, ticket: str) -> frozenset[int]:
        """The numbers of a ticket's doses another city gave (taken in on a transfer)."""
        return frozenset(
            n for (t, n), row in self.dose_rows.items() if t == ticket and row["source"] != "site"
        )

    async def unexported(self, limit: int) -> list[Row]:
        """Doses not yet exported to health management (F13), of tickets with a target;
        the dose as jsonb text."""
        if limit is not None and limit < 0:  # None passes: LIMIT NULL is no limit
            raise ValueError("LIMIT must not be negative")
        holders = {t["ticket_number"]: t["basic_code"] for t in self.targets.values()}
        pending: list[Row] = [
            {
                "basic_code": holders[key[0]],
                "ticket_number": key[0],
                "dose_number": key[1],
                "dose": row["dose"],
            }
            for key, row in sorted(self.dose_rows.items())
            if row["exported_at"] is None and key[0] in holders
        ]
        return pending if limit is None else pending[:limit]

    async def mark_exported(self, keys: Sequence[tuple[str, int]]) -> None:
        """Note the doses an export carried (again, if carried before)."""
        at = pg_now()
        for key in keys:
            row = self.dose_rows.get((key[0], key[1]))
            if row is not None:
                row["exported_at"] = at

    async def put_transfer(self, inquiry_id: UUID, former: str, ticket: str | None) -> None:
        """Remember a transfer-in inquiry (F14); once."""
        row: dict[str, Any] = {
            "inquiry_id": pg_uuid(inquiry_id),
            "former_municipality": former,
            "ticket_number": ticket,
            "state": "sent",
            "doses": None,
            "requested_at": pg_now(),
            "answered_at": None,
        }
        not_null(row, ("inquiry_id", "former_municipality"))
        self.transfers.setdefault(row["inquiry_id"], row)

    async def transfer(self, inquiry_id: UUID) -> Row | None:
        """A transfer-in inquiry sent from here."""
        row = self.transfers.get(pg_uuid(inquiry_id))
        return None if row is None else dict(row)

    async def transfer_answered(self, inquiry_id: UUID, state: str, doses: int) -> None:
        """Note the former city's answer (again, if answered before)."""
        row = self.transfers.get(pg_uuid(inquiry_id))
        if row is not None:
            not_null({"state": state}, ("state",))
            row.update(state=state, doses=doses, answered_at=pg_now())
