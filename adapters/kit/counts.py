"""What a system did and what its edge read, counted (`observability.metrics.Adapter`):
labelled by the system, its configured city and a name from a closed set, never by
anything of a message, a row or a person.

An edge counts the rows of a file once it has answered it (a file left for the next look
counts then). A delivery's handler counts what it did once the delivery's transaction
commits (`InboxTransaction.on_commit`): a handler that acted and then rolled back runs
again on the redelivery, and is counted then, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from adapters.kit.rows import Tally
from adapters.ports import InboxTransaction
from contracts.codes import SystemId
from observability.metrics import Adapter, AdapterEvent

__all__ = ["At", "Counted", "event", "rows"]


class Counted(Protocol):
    """Whose count it is: a bridge, or `At`."""

    @property
    def system(self) -> SystemId:
        """The system that did it."""
        ...

    @property
    def municipality(self) -> str:
        """Its configured city."""
        ...


@dataclass(frozen=True)
class At:
    """A system of a city, for what is counted without its bridge (`sesshu import`)."""

    system: SystemId
    municipality: str


def rows(by: Counted, tally: Tally) -> None:
    """The rows of one request file `by`'s edge answered: imported and refused (both
    counted, zero too, so each series exists from the first file)."""
    system, city = by.system.value, by.municipality
    Adapter.rows.labels(system, city, "imported").inc(tally.imported)
    Adapter.rows.labels(system, city, "refused").inc(tally.refused)


def event(by: Counted, name: AdapterEvent, tx: InboxTransaction | None = None) -> None:
    """`name`, done by `by`'s system: counted now, or, inside a delivery's transaction
    `tx`, once it commits."""
    counter = Adapter.events.labels(by.system.value, by.municipality, name)
    if tx is None:
        counter.inc()
    else:
        tx.on_commit(counter.inc)
