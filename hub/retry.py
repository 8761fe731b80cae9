"""tenacity at the I/O edges: named exceptions only, limits from settings."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from hub.errors import DatabaseUnavailable
from hub.settings import HubSettings

__all__ = ["retry_policy", "retrying", "sleep_unless"]

T = TypeVar("T")


def retry_policy(settings: HubSettings, *exceptions: type[BaseException]) -> AsyncRetrying:
    """Retries on the named exceptions only, backing off exponentially within the limits."""
    return AsyncRetrying(
        retry=retry_if_exception_type(exceptions),
        stop=stop_after_attempt(settings.retry_attempts),
        wait=wait_exponential(multiplier=0.05, max=settings.retry_max_wait_seconds),
        reraise=True,
    )


async def retrying(settings: HubSettings, call: Callable[[], Awaitable[T]]) -> T:
    """`call()` retried while the database is unavailable; DatabaseUnavailable at the end."""
    async for attempt in retry_policy(settings, DatabaseUnavailable):
        with attempt:
            return await call()
    raise AssertionError("unreachable: AsyncRetrying reraises")  # pragma: no cover


async def sleep_unless(
    stop: asyncio.Event, seconds: float, wake: asyncio.Event | None = None
) -> None:
    """Sleep `seconds`, or less if `stop` (or `wake`, which is then cleared) is set meanwhile."""
    waits = [asyncio.ensure_future(e.wait()) for e in (stop, wake) if e is not None]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
    if wake is not None:
        wake.clear()
