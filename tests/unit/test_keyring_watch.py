"""The key-ring watcher (hub/keyring_watch.py) on a real directory: it applies a changed
ring once it holds still, and nothing in the directory (no entry at all, a bad file, a name
that is not UTF-8) applies a broken ring or ends the watcher."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from contracts.codes import SystemId
from contracts.keys import GeneratedKey, KeyRing, generate_key
from hub import keyring_watch
from hub.keyring_watch import ring_fingerprint, watch_key_ring

ONE = generate_key(SystemId.VRS, "082279", key_id="vrs-w-1")
TWO = generate_key(SystemId.VRS, "082279", key_id="vrs-w-2")


def put(key: GeneratedKey, directory: Path) -> None:
    """The ring entry alone, as an operator copies it in."""
    entry = key.entry.model_dump(mode="json")
    (directory / f"{key.entry.key_id}.json").write_text(json.dumps(entry))


@contextlib.asynccontextmanager
async def watching(directory: Path) -> AsyncIterator[list[KeyRing]]:
    applied: list[KeyRing] = []
    stop, wake = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(
        watch_key_ring(
            directory,
            loaded=ring_fingerprint(directory),
            interval=0.05,
            apply=applied.append,
            stop=stop,
            wake=wake,
        )
    )
    try:
        yield applied
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)  # ends on stop, and did not die before


@pytest.fixture(autouse=True)
def _quick_settle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keyring_watch, "SETTLE_SECONDS", 0.05)


async def until(predicate: object, seconds: float = 3) -> None:
    for _ in range(int(seconds / 0.02)):
        if predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


async def test_a_new_entry_is_applied_once(tmp_path: Path) -> None:
    put(ONE, tmp_path)
    async with watching(tmp_path) as applied:
        put(TWO, tmp_path)
        await until(lambda: len(applied) == 1)
        await asyncio.sleep(0.3)
        assert len(applied) == 1
        assert {e.key_id for e in applied[0]} == {"vrs-w-1", "vrs-w-2"}


async def test_an_emptied_directory_or_a_bad_entry_leaves_the_ring_in_force(
    tmp_path: Path,
) -> None:
    put(ONE, tmp_path)
    async with watching(tmp_path) as applied:
        (tmp_path / "vrs-w-1.json").unlink()  # an `rm` before the `cp`
        await asyncio.sleep(0.4)
        (tmp_path / "vrs-w-1.json").write_text("{half a file")
        await asyncio.sleep(0.4)
        (tmp_path / os.fsdecode(b"\xff.json")).write_text("{}")  # a name not UTF-8
        await asyncio.sleep(0.4)
        assert applied == []
        (tmp_path / os.fsdecode(b"\xff.json")).unlink()
        (tmp_path / "vrs-w-1.json").unlink()
        put(ONE, tmp_path)
        put(TWO, tmp_path)
        await until(lambda: len(applied) == 1)
        assert len(applied[0]) == 2
