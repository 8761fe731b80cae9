"""The health-management system's residents (F1) and recorded doses (F3) in memory
(tests, simulators): the `ResidentRegister` port as `hub.store.systems.PgResidents` keeps
it in schema `ims`, with the same upsert rules, rows and refusals."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from adapters.kit.stored import ConstraintViolation, not_null, pg_date, pg_now
from adapters.ports import RESIDENT_COLUMNS, ResidentRegister, Row

__all__ = ["MemoryResidents", "ResidentRegister"]

# The columns a caller gives, in the table's order; `coded` and `updated_at` follow.
NOT_NULL = (
    "person",
    "basic_code",
    "resident_code",
    "my_number",
    "name",
    "birth_date",
    "sex",
    "address",
    "status",
)
# An update takes the system of record's latest word on these; the rest stay as first given.
UPDATED = ("name", "name_kana", "address", "status", "status_on")
# A ticket, once issued, is never replaced by a later file's.
KEPT_ONCE_SET = ("ticket_number", "ticket_issued_on")
DOSE = ("vaccine_type", "dose_number", "administered_on", "lot_number", "manufacturer")


@dataclass
class MemoryResidents:
    """The in-memory register (tests, simulators): one event loop, so no locks."""

    residents: dict[str, dict[str, Any]] = field(default_factory=dict)
    doses: dict[tuple[str, str, int], dict[str, Any]] = field(default_factory=dict)

    async def put(self, resident: Row) -> tuple[bool, str | None]:
        """Insert or update one resident; (new?, status before)."""
        given = {k: resident[k] for k in RESIDENT_COLUMNS}
        for column in ("birth_date", "ticket_issued_on", "status_on"):
            given[column] = pg_date(given[column])
        not_null(given, NOT_NULL)
        kept = self.residents.get(given["person"])
        if kept is None:
            self._refuse_taken(given, "basic_code")
            self._refuse_taken(given, "ticket_number")
            self.residents[given["person"]] = given | {
                "coded": False,
                "targeted": False,
                "flagged": None,
                "updated_at": pg_now(),
            }
            return True, None
        change = {k: given[k] for k in UPDATED}
        for column in KEPT_ONCE_SET:
            change[column] = given[column] if kept[column] is None else kept[column]
        self._refuse_taken(kept | change, "ticket_number")
        before = kept["status"]
        kept.update(change, updated_at=pg_now())
        return False, before

    def _refuse_taken(self, row: Row, column: str) -> None:
        """UNIQUE (column): another resident already holds the value (NULL never clashes)."""
        value = row[column]
        if value is None:
            return
        for other in self.residents.values():
            if other[column] == value and other["person"] != row["person"]:
                raise ConstraintViolation(f"residents_{column}_key")

    async def get(self, person: str) -> Row | None:
        """One resident by 団体内統合宛名番号."""
        found = self.residents.get(person)
        return None if found is None else dict(found)

    async def by_basic_code(self, basic_code: str) -> Row | None:
        """One resident by 基本コード."""
        for resident in self.residents.values():
            if resident["basic_code"] == basic_code:
                return dict(resident)
        return None

    async def mark_coded(self, person: str) -> None:
        """Note that the 符号 acquisition information was sent for the person (F5)."""
        if person in self.residents:
            self.residents[person]["coded"] = True

    async def mark_targeted(self, people: Sequence[str]) -> None:
        """Note that these people's targets and notices were sent (F11, F2)."""
        for person in people:
            if person in self.residents:
                self.residents[person]["targeted"] = True

    async def mark_flagged(self, person: str, status: str) -> None:
        """Note the status last flagged to VRS for the person (F16)."""
        if person in self.residents:
            self.residents[person]["flagged"] = status

    async def put_dose(self, person: str, dose: Row) -> None:
        """Record (or correct) one dose of a person (F3); the person must be registered."""
        row = {k: dose[k] for k in DOSE}
        row["administered_on"] = pg_date(row["administered_on"])
        not_null({"person": person, **row}, ("person", *DOSE[:3]))
        if person not in self.residents:
            raise ConstraintViolation("doses_person_fkey")
        self.doses[(person, row["vaccine_type"], row["dose_number"])] = row

    async def history(self, person: str) -> list[Row]:
        """A person's doses in date order (what the 副本 registers, F4)."""
        mine: list[Row] = [dict(d) for (who, _, _), d in self.doses.items() if who == person]
        mine.sort(key=lambda d: (d["administered_on"], d["vaccine_type"], d["dose_number"]))
        return mine

    async def histories(self) -> dict[str, list[Row]]:
        """Every person's doses in date order (for reconciliation, R46)."""
        people = sorted({who for (who, _, _) in self.doses})
        return {person: await self.history(person) for person in people}
