"""Outbox marks survive the drain cancelling the marker in the middle of a flush: the
seqs go back for the drain's final flush instead of being lost without a word (they were
published; losing the mark would only republish them, but a drained worker must leave
nothing unmarked)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from hub.outbox import Outbox
from hub.settings import Settings
from hub.store.memory import MemoryStore


class SlowMarks(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.marked: list[int] = []

    async def mark_published(self, seqs: Sequence[int]) -> None:
        self.started.set()
        await self.release.wait()
        self.marked += seqs


async def test_a_flush_cancelled_mid_update_keeps_its_marks_for_the_next() -> None:
    journal = SlowMarks()
    outbox = Outbox(Settings(), journal, {})
    outbox._confirmed.extend([1, 2, 3])
    flush = asyncio.create_task(outbox._flush_marks())
    await journal.started.wait()
    flush.cancel()
    await asyncio.gather(flush, return_exceptions=True)
    assert flush.cancelled()
    assert outbox._confirmed == [1, 2, 3]
    journal.release.set()
    await outbox._flush_marks()
    assert journal.marked == [1, 2, 3]
    assert outbox._confirmed == []
