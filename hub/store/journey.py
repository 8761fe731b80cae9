"""The store's side of a message's journey (hub/journey.py): the journal rows of the
journey first (journey.sql, journey_seqs), then what the outbox, the held messages, the
re-drives, the audit trail and the 情報提供等記録 say of them, by those rows' seqs and ids.

It reads only: the hub's role (`sesshu trace`), the desk's, or an operator's may run it."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from hub.journey import (
    AUDIT_DETAIL,
    AuditEvent,
    HeldStep,
    Hop,
    Journey,
    JourneyKey,
    Publish,
    Record,
    Redrive,
)
from hub.store.statements import PoolStatements

__all__ = ["JOURNEY_MAX_ROWS", "JourneyReads"]

JOURNEY_MAX_ROWS = 500
"""Most journal rows one journey shows (a correlation id of a long inquiry has a few)."""


class JourneyReads(PoolStatements):
    """A message's journey from the hub's database."""

    async def journey(self, key: JourneyKey, limit: int = JOURNEY_MAX_ROWS) -> Journey | None:
        """The journey `key` names; None if no journal row matches."""
        seqs = [r["seq"] for r in await self._fetch("journey_seqs", key.uuid, key.seq, limit)]
        if not seqs:
            return None
        rows = await self._fetch("journey_hops", seqs)
        publishes: dict[int, list[Publish]] = {}
        for row in await self._fetch("journey_outbox", seqs):
            publishes.setdefault(row["journal_seq"], []).append(_publish(row))
        held_rows = await self._fetch("journey_held", seqs)
        held = {row.pop("journal_seq"): HeldStep(**row) for row in held_rows}
        hops = tuple(_hop(row, publishes.get(row["seq"], []), held.get(row["seq"])) for row in rows)
        subjects = [h.message_id for h in hops if h.message_id] + [f"journal:{s}" for s in seqs]
        return Journey(
            key,
            hops,
            records=tuple(_record(r) for r in await self._fetch("journey_records", seqs)),
            audit=tuple(_audit(r) for r in await self._fetch("journey_audit", subjects)),
            redrives=tuple(Redrive(**r) for r in await self._fetch("journey_redrives", seqs)),
        )


def _publish(row: Mapping[str, Any]) -> Publish:
    return Publish(
        exchange=row["exchange"],
        routing_key=row["routing_key"],
        queued_at=row["created_at"],
        published_at=row["published_at"],
        attempts=row["attempts"],
    )


def _hop(row: dict[str, Any], publishes: Sequence[Publish], held: HeldStep | None) -> Hop:
    items = row.pop("data_items")
    return Hop(**row, data_items=tuple(items or ()), publishes=tuple(publishes), held=held)


def _record(row: Mapping[str, Any]) -> Record:
    return Record(
        message_id=row["message_id"],
        journal_seq=row["journal_seq"],
        direction=row["direction"],
        kind=row["kind"],
        procedure=row["procedure"],
        data_items=tuple(row["data_items"]),
        inquirer=f"{row['inquirer_system']}.{row['inquirer_municipality']}",
        provider=f"{row['provider_system']}.{row['provider_municipality']}",
        requested_at=row["requested_at"],
        provided_at=row["provided_at"],
        state=row["state"],
        nondisclosure=row["nondisclosure"],
    )


def _audit(row: Mapping[str, Any]) -> AuditEvent:
    detail = row["detail"]
    detail = json.loads(detail) if isinstance(detail, str) else dict(detail)
    return AuditEvent(
        seq=row["seq"],
        at=row["at"],
        actor=row["actor"],
        action=row["action"],
        subject=row["subject"],
        detail={k: v for k, v in detail.items() if k in AUDIT_DETAIL},
    )
