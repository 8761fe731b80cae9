"""Which database failures count as an outage (retry, pause) and which propagate."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from hub.errors import DatabaseUnavailable
from storekit.translate import translated


async def test_a_connection_reset_reported_as_cancelled_is_an_outage() -> None:
    async def query() -> None:
        with translated():
            raise asyncio.CancelledError("Server connection reset")

    with pytest.raises(DatabaseUnavailable):
        await asyncio.create_task(query())


async def test_a_real_cancellation_still_cancels() -> None:
    started = asyncio.Event()

    async def query() -> None:
        with translated():
            started.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(query())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(),
        asyncpg.CannotConnectNowError("starting up"),
        asyncpg.InternalClientError("another operation (2) is in progress"),
        TimeoutError(),
        asyncpg.DeadlockDetectedError("deadlock detected"),
        asyncpg.SerializationError("could not serialize access"),
        asyncpg.ReadOnlySQLTransactionError("read-only transaction"),
        asyncpg.DiskFullError("no space left on device"),
        asyncpg.QueryCanceledError("canceling statement"),
    ],
)
async def test_transient_failures_become_database_unavailable(error: BaseException) -> None:
    with pytest.raises(DatabaseUnavailable), translated():
        raise error


async def test_a_wrong_statement_is_a_bug_not_an_outage() -> None:
    with pytest.raises(asyncpg.UndefinedTableError), translated():
        raise asyncpg.UndefinedTableError("relation does not exist")


async def test_a_value_the_database_refuses_is_the_message_s_fault() -> None:
    # Split out of its batch and refused alone (hub/recording.py), never retried forever.
    with pytest.raises(asyncpg.CharacterNotInRepertoireError), translated():
        raise asyncpg.CharacterNotInRepertoireError("invalid byte sequence for encoding")
