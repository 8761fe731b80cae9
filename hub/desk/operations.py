"""The operator console through the desk: what crossed the hub lately (throughput per kind
and decision, dead letters by reason), what waits for a 所属長 and for how long, the
journal browsed a page at a time, and a message's journey (hub/journey.py).

Operators and contractors see the rows of their municipality (as sender or recipient)
and the rows refused before their signature verified, which belong to nobody yet; admins
see every row. Metadata only: no payload is read here. Opening a journey is audited (R17)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hub.approvals import Role, Staff
from hub.desk.common import DeskBase, Forbidden, NotAuthenticated, NotFound, Terminal
from hub.journey import Journey, JourneyKey
from hub.redrive import REDRIVABLE
from hub.store.operations import HeldAge, JournalFilter, JournalLine

__all__ = ["DeadLetters", "Operations", "Overview", "console_scope"]

BROWSE_MAX = 200
HELD_SHOWN = 50


@dataclass(frozen=True, slots=True)
class DeadLetters:
    """The refusals of one reason code in the window."""

    reason_code: str
    count: int
    last_at: datetime
    redrivable: bool


@dataclass(frozen=True, slots=True)
class Overview:
    """The console's first page: the last `window_seconds` of the journal, and now."""

    window_seconds: float
    throughput: tuple[tuple[str, str, int], ...]
    """(kind, decision, count)."""
    dead_letters: tuple[DeadLetters, ...]
    held: tuple[HeldAge, ...]
    """The oldest held messages (at most HELD_SHOWN)."""
    held_total: int
    redrives_pending: int

    @property
    def total(self) -> int:
        """Journal rows in the window."""
        return sum(n for _, _, n in self.throughput)


def console_scope(who: Staff) -> str | None:
    """The municipality whose rows `who` sees on the console (None: every row, an admin);
    Forbidden unless an operator, a contractor (R23: the console's read-only views) or an
    admin."""
    if who.disabled:
        raise NotAuthenticated("account_disabled", "the account is disabled")
    if Role.ADMIN in who.roles:
        return None
    if who.roles & {Role.OPERATOR, Role.CONTRACTOR}:
        return who.municipality
    raise Forbidden(
        "not_an_operator", "only operators, contractors and admins use the operator console"
    )


class Operations(DeskBase):
    """The operator console: overview, message browser, journeys."""

    async def overview(self, who: Staff, *, window_seconds: float) -> Overview:
        """Throughput, dead letters, held messages and pending re-drives."""
        scope = console_scope(who)
        store = self.store
        dead = await store.dead_letters(window_seconds, scope)
        held, held_total = await store.held_ages(scope, HELD_SHOWN)
        return Overview(
            window_seconds=window_seconds,
            throughput=tuple(await store.throughput(window_seconds, scope)),
            dead_letters=tuple(
                DeadLetters(code, n, last, code in REDRIVABLE) for code, n, last in dead
            ),
            held=tuple(held),
            held_total=held_total,
            redrives_pending=await store.redrives_pending(),
        )

    async def browse(
        self, who: Staff, where: JournalFilter, *, after: int | None = None, limit: int = 50
    ) -> tuple[list[JournalLine], int | None]:
        """A page of the journal, newest first, below the cursor `after` (a seq), and the
        cursor of the next page (None on the last)."""
        scope = console_scope(who)
        limit = max(1, min(limit, BROWSE_MAX))
        lines = await self.store.browse(where, scope, after, limit + 1)
        if len(lines) > limit:
            return lines[:limit], lines[limit - 1].seq
        return lines, None

    async def journey(self, who: Staff, key: JourneyKey, terminal: Terminal) -> Journey:
        """The journey `key` names, if one of its rows is `who`'s to see; audited."""
        scope = console_scope(who)
        found = await self.store.journey(key)
        if found is None or (scope is not None and not {scope, None} & found.municipalities):
            raise NotFound("not_found", "no journal row with that id")
        async with self.store.transaction() as tx:
            await tx.audit(
                at=self._now(),
                actor=who.user_id,
                action="ops.journey.viewed",
                subject=key.text,
                municipality=who.municipality,
                terminal=terminal.as_dict(),
                detail={"rows": len(found.hops)},
            )
        return found
