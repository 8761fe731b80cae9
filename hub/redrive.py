"""Re-driving a dead-lettered message after a fix: the rules, as plain functions.

A message the hub refused for a reason on the hub's side (a sender's new key not yet in
the ring, a row missing from the permitted-inquiry list, a bug of ours) is not lost: its
bytes stay in the journal for `SESSHU_RETENTION__REFUSED_DAYS`. Once the cause is fixed,
an operator re-drives it, and it goes on as if it had arrived after the fix:

    desk (operator)                    redrives table                 hub worker
    dry run: count the refused rows    ─────────────────              every SESSHU_DESK__
    a selection names (one row, or                                    REDRIVE_INTERVAL_SECONDS:
    a reason code and time range),                                    take one pending row
    with the SHA-256 of their seqs                                    (FOR UPDATE SKIP LOCKED),
    confirm with that digest ───────> one 'pending' row per           triage the journaled
    (changed meanwhile: refused),     journal row, audited in the     bytes again (`retriage`),
    operator role only                same transaction                journal + outbox + the
                                                                      outcome + an audit row,
                                                                      in one transaction

Why it is built this way:

- **The desk publishes nothing.** It has no broker user; it writes a request row, which
  only the desk's and the hub's database roles may write (stack/grants.sql: the desk
  INSERTs, the hub UPDATEs). Nothing of a re-drive travels on the broker before the hub has
  triaged it, so there is no AMQP header an adapter could forge to have a message replayed:
  the hub reads no header to decide a re-drive, only this table, and the bytes it triages
  are the journal's own copy (never what came with a request). A message an adapter
  publishes with any "re-drive" header is triaged like any other: the same refused bytes
  again are a duplicate of their journal row, and nothing happens.
- **The hub triages again; it never just delivers.** The bytes go through the same
  `triage` as on arrival, under the key ring and policy in force now: signature, contract,
  tenant, routing, hold. Freshness is judged at the time the hub first received them (a
  re-drive asks "was this fresh when it came?", not "is it fresh now?", or every re-drive
  would be stale), and since the routing key it was published under is not kept, its kind
  must be one its sender's system publishes (`contracts.broker.KINDS_SENT`: what the
  broker's topic permissions allow that system's user), so a re-drive cannot carry a kind
  past the broker that the routing-key check would have stopped.
- **Once, whatever happens twice.** The outcome is journaled under the envelope's id, like
  any verified envelope, so the journal's dedupe holds: a second re-drive of the same row,
  a re-drive of another refused copy of the message, or a re-drive of a message its sender
  meanwhile resent is a `duplicate` (nothing sent again), and a re-drive refused again is
  keyed by the same bytes as the original refusal (nothing journaled or dead-lettered
  twice; the new reason is on the re-drive's row). The desk refuses to queue a row that has
  a re-drive pending or done, and one pending re-drive per row is a unique index.
- **Only what a fix on the hub's side can change is re-driven** (`REDRIVABLE`): an unknown
  key or one outside its window in the ring, the routing refusals of the list, and the
  hub's own failures. A bad signature, a broken or oversized message (its journal copy is
  cut at the limit), a stale one, a reused id, a revoked key or a key that signs for
  another system or city is the sender's to fix, or a forgery: it is never re-driven.
- **Marked, not rewritten.** The journal row of the re-driven message keeps its message
  id; its redrives row names the original journal row and the result, and the audit trail
  has who asked (`redrive.requested`) and what came of it (`redrive.done`). `sesshu trace`
  and the console's message page show both rows as one journey.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from contracts.broker import KINDS_SENT
from contracts.codes import SystemId
from hub.entries import JournalEntry, rejected, same_message
from hub.pipeline import Triage
from routing.decision import HOLD_CODES, ROUTING_CODES

__all__ = [
    "MAX_REDRIVE",
    "REDRIVABLE",
    "Outcome",
    "RedriveState",
    "after_record",
    "refused",
    "retriage",
    "selection_digest",
    "sent_by_its_system",
]

REDRIVABLE = frozenset({"unknown_key", "key_not_valid", "internal_error"}) | (
    ROUTING_CODES - HOLD_CODES
)
"""Refusals a fix on the hub's side (its key ring, its list, its code) can change."""
MAX_REDRIVE = 500
"""Most journal rows one confirmation queues: a bigger selection is re-driven in parts."""


class RedriveState(StrEnum):
    """Where a re-drive stands (the redrives table's states)."""

    PENDING = "pending"
    DELIVERED = "delivered"
    HELD = "held"
    DUPLICATE = "duplicate"
    REFUSED = "refused"
    UNAVAILABLE = "unavailable"
    """Retention removed the bytes before the hub took the re-drive up."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What came of one re-drive: its state, the journal row it made or found, and for a
    refusal the reason code and reason (the hub's own words, never a value)."""

    state: RedriveState
    result_seq: int | None = None
    reason_code: str | None = None
    reason: str | None = None


def selection_digest(seqs: Iterable[int]) -> str:
    """The SHA-256 of the journal seqs a selection names now: a dry run shows it, and the
    confirmation must name it, so what is queued is what the operator was shown."""
    return hashlib.sha256(",".join(str(s) for s in sorted(seqs)).encode()).hexdigest()


_NOT_SENT = "kind: not one its sender's system publishes (contracts.broker.KINDS_SENT)"


def retriage(body: bytes, setup: Triage, received_at: datetime) -> JournalEntry:
    """The journaled bytes triaged again under `setup` (the key ring and policy in force),
    as of the time the hub first received them; never raises (`triage` does not)."""
    return sent_by_its_system(setup(body, received_at, None))


def sent_by_its_system(entry: JournalEntry) -> JournalEntry:
    """`entry`, or its refusal if it is let through but its kind is not one its sender's
    system publishes (what the routing-key check and the broker's topic permissions
    enforce on arrival)."""
    if entry.decision == "reject":
        return entry
    try:
        sent = KINDS_SENT.get(SystemId(entry.sender_system or ""), frozenset())
    except ValueError:  # no sender, or no system of ours
        sent = frozenset()
    if entry.kind not in sent:
        return rejected(entry.canonical, entry.policy_version, "contract_invalid", _NOT_SENT, {})
    return entry


def refused(entry: JournalEntry) -> Outcome:
    """The outcome of a re-drive the triage refused again."""
    return Outcome(RedriveState.REFUSED, reason_code=entry.reason_code, reason=entry.reason)


def after_record(
    entry: JournalEntry, new_seq: int | None, existing: tuple[int, bytes | None] | None
) -> Outcome:
    """The outcome of journaling a re-triaged entry: `new_seq` if the journal took it,
    else `existing`, the (seq, bytes) already journaled under its dedupe key. The same
    message already there is a duplicate; other bytes under its id are a reused id, as the
    pipeline tells them (hub/recording.py)."""
    if new_seq is not None:
        state = RedriveState.HELD if entry.decision == "hold" else RedriveState.DELIVERED
        return Outcome(state, result_seq=new_seq)
    if (
        existing is not None
        and existing[1] is not None
        and same_message(entry.canonical, existing[1])
    ):
        return Outcome(RedriveState.DUPLICATE, result_seq=existing[0])
    return Outcome(
        RedriveState.REFUSED,
        reason_code="id_conflict",
        reason="id: already journaled with other content; an id names one message",
    )
