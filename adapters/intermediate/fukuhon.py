"""The 副本 store: the vaccination history the health-management system registers on the
intermediate server for provision (F4), format-checked on the way in (R45) and exportable
for reconciliation against the original (R46).

A 副本 is keyed by (団体内統合宛名番号, data item) and holds doses only: no name, no My
Number. The store sits behind a port (`adapters.ports.FukuhonStore`): the in-memory one is
here, the PostgreSQL one in `hub.store.intermediate` (schema `intermediate`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from adapters.ports import FukuhonStore, History, ResidentRegister, in_date_order
from contracts.payloads import DoseHistoryItem, FukuhonRegistration

__all__ = [
    "FUKUHON_ITEMS",
    "FukuhonStore",
    "MemoryFukuhon",
    "Mismatch",
    "check_against_original",
    "format_problems",
    "mismatches_csv",
    "reconcile",
    "reconciliation_csv",
]

# The data items a 副本 may hold on this intermediate server.
FUKUHON_ITEMS = frozenset({"vaccination.history"})


def format_problems(registration: FukuhonRegistration) -> list[str]:
    """What is wrong with a registration beyond its contract (R45); empty if nothing."""
    problems = []
    if str(registration.data_item) not in FUKUHON_ITEMS:
        problems.append("data_item: not a 副本 item of this intermediate server")
    if registration.operation == "delete" and registration.history:
        problems.append("history: a delete carries no history")
    # An upsert without doses only announces a new subject, for its 符号 (F5).
    empty = registration.operation == "upsert" and not registration.history
    if empty and registration.resident_code is None:
        problems.append("history: an upsert needs at least one dose")
    seen: set[tuple[str, int]] = set()
    for index, dose in enumerate(registration.history):
        key = (dose.vaccine_type, dose.dose_number)
        if key in seen:
            problems.append(f"history[{index}]: dose {dose.dose_number} of {key[0]} repeats")
        seen.add(key)
    return problems


@dataclass
class MemoryFukuhon:
    """The in-memory 副本 store (tests, simulators)."""

    rows: dict[tuple[str, str], History] = field(default_factory=dict)

    async def apply(self, registration: FukuhonRegistration) -> None:
        """Store or remove one 副本."""
        key = (str(registration.person), str(registration.data_item))
        if registration.operation == "delete":
            self.rows.pop(key, None)
        else:
            self.rows[key] = in_date_order(registration.history)

    async def history(self, person: str, data_item: str) -> History | None:
        """One person's 副本, if registered."""
        return self.rows.get((person, data_item))

    async def everything(self, data_item: str) -> Mapping[str, History]:
        """Every person's 副本 of a data item."""
        return {person: h for (person, item), h in self.rows.items() if item == data_item}


@dataclass(frozen=True, slots=True)
class Mismatch:
    """A person whose 副本 and original differ (R46); no personal data beyond the number."""

    person: str
    problem: str  # only_in_fukuhon | only_in_original | differs


def reconcile(
    fukuhon: Mapping[str, History], original: Mapping[str, Sequence[DoseHistoryItem]]
) -> list[Mismatch]:
    """Every person whose 副本 is missing, extra, or not what the original holds."""
    found = []
    for person in sorted(set(fukuhon) | set(original)):
        if person not in original:
            found.append(Mismatch(person, "only_in_fukuhon"))
        elif person not in fukuhon:
            found.append(Mismatch(person, "only_in_original"))
        elif in_date_order(original[person]) != in_date_order(fukuhon[person]):
            found.append(Mismatch(person, "differs"))
    return found


async def check_against_original(
    fukuhon: FukuhonStore, original: ResidentRegister, data_item: str = "vaccination.history"
) -> tuple[dict[str, History], list[Mismatch]]:
    """R46: the server's 副本 and every person whose 副本 is not what health management's
    original holds."""
    kept = dict(await fukuhon.everything(data_item))
    held = {
        person: tuple(DoseHistoryItem.model_validate(d) for d in doses)
        for person, doses in (await original.histories()).items()
    }
    return kept, reconcile(kept, held)


def mismatches_csv(mismatches: Sequence[Mismatch]) -> str:
    """The people to look at, one row each: their number and what differs."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["person", "problem"])
    writer.writerows((m.person, m.problem) for m in mismatches)
    return out.getvalue()


def reconciliation_csv(fukuhon: Mapping[str, History]) -> str:
    """The 副本 as CSV, one row per dose, for checking against the original (R46)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["person", "vaccine_type", "dose_number", "administered_on", "lot_number"])
    for person in sorted(fukuhon):
        for dose in fukuhon[person]:
            writer.writerow(
                [
                    person,
                    dose.vaccine_type,
                    dose.dose_number,
                    dose.administered_on.isoformat(),
                    dose.lot_number or "",
                ]
            )
    return out.getvalue()
