"""Journaling a batch so that no message can take the others with it.

`record_batch` is the worker's one way into the journal:

- The batch goes in as one transaction. If that fails for a reason that is not an outage
  (a value PostgreSQL refuses, a constraint, a bug of ours), the batch is split in halves
  and each half tried again, down to the one message at fault: it is journaled as an
  `internal_error` refusal (its exception class, never its content) and dead-lettered, and
  every other message of the batch commits. log2(batch) extra transactions find it.
- If even that content-free refusal fails, the message is not at fault: the database is
  (read-only, out of disk, a broken migration). That is `JournalRefuses`, an outage:
  nothing is acked, and the batch waits like any other during an outage.
- A verified envelope whose id is journaled for another message is no duplicate: it becomes
  an `id_conflict` refusal, keyed by its own bytes. The same message again stays a silent
  duplicate, in the same batch as in a later one: an exact replay, or a resend that differs
  only in what a sender stamps anew each time it sends (`sent_at`, `traceparent` and so
  the signature; an edge resending a file after a crash, contracts/README.md). Once
  retention has removed the first message's bytes (weeks later: an exact replay is stale
  long before), nothing is left to compare with, and the reuse is told as `id_conflict`
  rather than a message dropped unseen.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from hub.entries import JournalEntry, id_conflict, internal_error, same_message
from hub.errors import DatabaseUnavailable, JournalRefuses
from hub.ports import Journal
from hub.retry import retrying
from hub.settings import HubSettings

__all__ = ["Recorded", "record_batch"]

log = logging.getLogger("sesshu.hub.recording")

Recorded = list[tuple[JournalEntry, int | None]]
"""The entries that were new, each with its outbox seq (None for a hold)."""


async def record_batch(
    journal: Journal, entries: Sequence[JournalEntry], settings: HubSettings
) -> Recorded:
    """Journal `entries`; DatabaseUnavailable while it cannot.

    Of several entries with one dedupe key, the first goes in and exact copies are dropped;
    the others are compared with what the journal holds once the first is in, so a resend
    of the journaled message stays silent whichever copy came first in the batch."""
    recorded: Recorded = []
    pending = list(entries)
    while pending:
        firsts, others = _by_key(pending)
        recorded += await _split_until_recorded(journal, firsts, settings)
        new = {entry.dedupe_key for entry, _ in recorded}
        # Only an id can be reused: refusals are keyed by their bytes' hash already.
        candidates = [e for e in firsts if e.dedupe_key not in new] + others
        conflicts, unjournaled = await _conflicts(journal, candidates, settings)
        recorded += await _split_until_recorded(journal, conflicts, settings)
        # A copy whose first the journal refused (split out as internal_error) finds its
        # id free: it goes in on the next round, as the first of its key.
        pending = [e for e in others if e.dedupe_key in unjournaled]
    return recorded


def _by_key(entries: Sequence[JournalEntry]) -> tuple[list[JournalEntry], list[JournalEntry]]:
    firsts: dict[str, JournalEntry] = {}
    others: dict[tuple[str, bytes], JournalEntry] = {}
    for entry in entries:
        first = firsts.setdefault(entry.dedupe_key, entry)
        if first.canonical != entry.canonical:
            others.setdefault((entry.dedupe_key, entry.canonical), entry)
    return list(firsts.values()), list(others.values())


async def _split_until_recorded(
    journal: Journal, entries: list[JournalEntry], settings: HubSettings
) -> Recorded:
    if not entries:
        return []
    try:
        new = await retrying(settings, lambda: journal.record(entries))
    except DatabaseUnavailable:
        raise
    except Exception as exc:  # not an outage: some entry is at fault; find it
        if len(entries) > 1:
            half = len(entries) // 2
            return await _split_until_recorded(
                journal, entries[:half], settings
            ) + await _split_until_recorded(journal, entries[half:], settings)
        return await _refuse_culprit(journal, entries[0], exc, settings)
    return [(e, new[e.dedupe_key]) for e in entries if e.dedupe_key in new]


async def _refuse_culprit(
    journal: Journal, entry: JournalEntry, exc: Exception, settings: HubSettings
) -> Recorded:
    log.error(
        "journal refused one message (%s); dead-lettered as internal_error", type(exc).__name__
    )
    refusal = internal_error(entry.canonical, entry.policy_version, exc)
    try:
        new = await retrying(settings, lambda: journal.record([refusal]))
    except DatabaseUnavailable:
        raise
    except Exception as again:
        raise JournalRefuses(
            f"the journal refuses a content-free row too ({type(again).__name__})"
        ) from again
    return [(refusal, seq) for key, seq in new.items() if key == refusal.dedupe_key]


async def _conflicts(
    journal: Journal, candidates: Sequence[JournalEntry], settings: HubSettings
) -> tuple[list[JournalEntry], set[str]]:
    """The id_conflict refusals among `candidates`, and those of their keys that nothing
    is journaled under (the first copy was refused)."""
    by_id = [e for e in candidates if e.dedupe_key.startswith("id:")]
    if not by_id:
        return [], set()
    keys = sorted({e.dedupe_key for e in by_id})
    journaled = await retrying(settings, lambda: journal.journaled_bytes(keys))
    conflicts = [
        id_conflict(entry)
        for entry in by_id
        if entry.dedupe_key in journaled and not _same(entry, journaled[entry.dedupe_key])
    ]
    return conflicts, set(keys) - journaled.keys()


def _same(entry: JournalEntry, journaled: bytes | None) -> bool:
    # None: the journaled bytes were pruned, so this cannot be shown to be the same message.
    return journaled is not None and same_message(entry.canonical, journaled)
