"""What a failure of PostgreSQL means to the caller: an outage (`DatabaseUnavailable`, tried
again) or a rule of the data broken (`Conflict`, the input's fault); anything else is a bug
and propagates."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from hub.errors import Conflict, DatabaseUnavailable

__all__ = ["TRANSIENT", "Connection", "translated"]

Connection = asyncpg.Connection | PoolConnectionProxy
"""A connection, or one of a pool's."""

# The failures that say "the database is away", not "this statement is wrong". Only these
# become DatabaseUnavailable and are retried; anything else is a bug and propagates.
TRANSIENT: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    # After a connection reset in mid-query (reported as CancelledError, below), releasing
    # that connection to the pool fails with "another operation is in progress" while the
    # pool terminates it: the next try gets a fresh connection. We never share a
    # connection between tasks, so here it means the outage, not a bug of ours.
    asyncpg.InternalClientError,
    # The server's own state, not the statement: a deadlock or serialization failure
    # between workers, a lock timeout, a standby after failover (read-only), a full disk or
    # too little memory, an operator's cancel, an I/O error. Trying again is right; taking
    # one of these for a fault of the message would dead-letter a valid one.
    asyncpg.TransactionRollbackError,
    asyncpg.LockNotAvailableError,
    asyncpg.ReadOnlySQLTransactionError,
    asyncpg.InsufficientResourcesError,
    asyncpg.OperatorInterventionError,
    asyncpg.PostgresSystemError,
)


@contextmanager
def translated() -> Iterator[None]:
    """Raise what a failure of PostgreSQL means to the caller: `DatabaseUnavailable` for an
    outage (retried), `Conflict` naming the constraint (never the values) for a broken rule."""
    try:
        yield
    except TRANSIENT as exc:
        raise DatabaseUnavailable(f"PostgreSQL unavailable: {type(exc).__name__}") from exc
    except asyncpg.IntegrityConstraintViolationError as exc:
        # The constraint's name only: the message's detail would quote the values.
        raise Conflict(exc.constraint_name or type(exc).__name__) from None
    except asyncio.CancelledError as exc:
        # asyncpg reports a connection reset in mid-query as CancelledError ("Server
        # connection reset"). Only a task that is really being cancelled may see one;
        # otherwise it is an outage like any other, not a reason to kill the worker.
        task = asyncio.current_task()
        if task is None or task.cancelling():
            raise
        raise DatabaseUnavailable("PostgreSQL connection reset") from exc
