"""Journaling a batch (hub/recording.py), on the in-memory journal: a message the journal
refuses is split out of its batch, reused ids are told from resends (the same run against
PostgreSQL is in tests/integration/test_hostile_input.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from uuid import UUID

import pytest

from hub.entries import JournalEntry
from hub.errors import JournalRefuses
from hub.recording import record_batch
from hub.settings import HubSettings
from hub.store.memory import MemoryStore
from tests.unit.test_triage import NOW, TRIAGE, wire

SETTINGS = HubSettings(retry_attempts=1)


class Refusing(MemoryStore):
    """A journal that refuses any batch holding one of `poison` (or every batch)."""

    def __init__(self, poison: set[bytes] | None = None) -> None:
        super().__init__()
        self.poison = poison
        self.calls = 0

    async def record(self, entries: Sequence[JournalEntry]) -> dict[str, int | None]:
        self.calls += 1
        # The refusal of the message at fault holds its bytes too, and is let in.
        if self.poison is None or any(
            e.canonical in self.poison and e.reason_code != "internal_error" for e in entries
        ):
            raise ValueError("refused")
        return await super().record(entries)


def entries(count: int) -> list[JournalEntry]:
    return [TRIAGE(wire(), NOW) for _ in range(count)]


async def test_the_message_at_fault_is_refused_alone_and_the_rest_commits() -> None:
    batch = entries(64)
    journal = Refusing({batch[37].canonical})
    recorded = await record_batch(journal, batch, SETTINGS)
    decisions = {e.decision for e, _ in recorded}
    assert len(recorded) == 64
    assert [e.reason_code for e, _ in recorded if e.decision == "reject"] == ["internal_error"]
    assert decisions == {"deliver", "reject"}
    assert journal.calls < 2 * 7 + 2  # a bisection, not a try per message


async def test_a_journal_that_refuses_everything_is_an_outage() -> None:
    with pytest.raises(JournalRefuses):
        await record_batch(Refusing(), entries(8), SETTINGS)


async def test_a_reused_id_is_a_conflict_and_a_resend_is_not() -> None:
    journal = MemoryStore()
    original = TRIAGE(wire(), NOW)
    await record_batch(journal, [original], SETTINGS)
    same_id = UUID(original.message_id)
    # A resend as an edge makes it after a crash: stamped and signed anew, same content.
    resend = TRIAGE(wire(message_id=same_id, sent_at=NOW + timedelta(seconds=5)), NOW)
    reuse = TRIAGE(
        wire(message_id=same_id, data_items=("covid.resident_status", "covid.target")), NOW
    )
    assert resend.dedupe_key == reuse.dedupe_key == original.dedupe_key
    recorded = await record_batch(journal, [reuse, resend, original], SETTINGS)
    assert [(e.reason_code, e.canonical) for e, _ in recorded] == [("id_conflict", reuse.canonical)]


async def test_a_copy_under_the_id_of_a_refused_message_is_not_lost() -> None:
    # Two envelopes under one id in one batch; the journal refuses the first. The second
    # must still be journaled (it is the first of its id now), not taken for a duplicate.
    first = TRIAGE(wire(), NOW)
    second = TRIAGE(wire(message_id=UUID(first.message_id), data_items=("covid.target",)), NOW)
    journal = Refusing({first.canonical})
    recorded = await record_batch(journal, [first, second], SETTINGS)
    assert sorted((e.decision, e.reason_code) for e, _ in recorded) == [
        ("deliver", None),
        ("reject", "internal_error"),
    ]
    assert second.dedupe_key in journal.journal
