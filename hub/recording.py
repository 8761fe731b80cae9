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
- A verified envelope whose id is journaled with other bytes is no duplicate: it becomes
  an `id_conflict` refusal, keyed by its own bytes. An exact replay stays a silent duplicate.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence

from hub.errors import DatabaseUnavailable, JournalRefuses
from hub.pipeline import JournalEntry, id_conflict, internal_error
from hub.ports import Journal
from hub.retry import retrying
from hub.settings import HubSettings

__all__ = ["Recorded", "record_batch", "unique"]

log = logging.getLogger("sesshu.hub.recording")

Recorded = list[tuple[JournalEntry, int | None]]
"""The entries that were new, each with its outbox seq (None for a hold)."""


def unique(entries: Sequence[JournalEntry]) -> list[JournalEntry]:
    """One entry per dedupe key: a copy with the same bytes (a redelivery racing a retry)
    is dropped, one with other bytes under the same id becomes an id_conflict."""
    seen: dict[str, JournalEntry] = {}
    for entry in entries:
        first = seen.setdefault(entry.dedupe_key, entry)
        if first.canonical != entry.canonical:
            conflict = id_conflict(entry)
            seen.setdefault(conflict.dedupe_key, conflict)
    return list(seen.values())


async def record_batch(
    journal: Journal, entries: Sequence[JournalEntry], settings: HubSettings
) -> Recorded:
    """Journal `entries` (deduped by `unique`); DatabaseUnavailable while it cannot."""
    recorded = await _split_until_recorded(journal, list(entries), settings)
    conflicts = await _conflicts(journal, entries, recorded, settings)
    if conflicts:
        recorded += await _split_until_recorded(journal, conflicts, settings)
    return recorded


async def _split_until_recorded(
    journal: Journal, entries: list[JournalEntry], settings: HubSettings
) -> Recorded:
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
    journal: Journal, entries: Sequence[JournalEntry], recorded: Recorded, settings: HubSettings
) -> list[JournalEntry]:
    new = {entry.dedupe_key for entry, _ in recorded}
    # Only an id can be reused: refusals are keyed by their bytes' hash already.
    old = [e for e in entries if e.dedupe_key not in new and e.dedupe_key.startswith("id:")]
    if not old:
        return []
    digests = [(e.dedupe_key, hashlib.sha256(e.canonical).digest()) for e in old]
    differing = await retrying(settings, lambda: journal.differing(digests))
    return [id_conflict(e) for e in old if e.dedupe_key in differing]
