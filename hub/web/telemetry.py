"""The desk's metrics: each HTTP request by route template, and what waits for a decision.

Requests are counted by the template of the route they matched (`/api/held/{message_id}`),
never by their path, which holds ids; one that matched no route counts as `unmatched`.
The held gauges are read from the database every GAUGE_INTERVAL seconds, so every desk
process reports what is held across the hub, not only what it saw itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from fastapi import Request, Response

from hub.desk import Desk
from hub.errors import DatabaseUnavailable
from observability.metrics import Desk as DeskMetrics

__all__ = ["GAUGE_INTERVAL", "count_requests", "refresh_held_gauges"]

log = logging.getLogger("sesshu.desk")
GAUGE_INTERVAL = 15.0
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


async def count_requests(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Count and time a request under its route template, method and status."""
    started = time.perf_counter()
    response = await call_next(request)
    route = getattr(request.scope.get("route"), "path", None) or "unmatched"
    method = request.method if request.method in _METHODS else "other"
    DeskMetrics.requests.labels(route, method, str(response.status_code)).inc()
    DeskMetrics.request_seconds.labels(route).observe(time.perf_counter() - started)
    return response


async def refresh_held_gauges(desk: Desk, interval: float = GAUGE_INTERVAL) -> None:
    """Keep the held gauges true to the database until cancelled."""
    seen: set[tuple[str, str, str]] = set()
    oldest_seen: set[str] = set()
    while True:
        try:
            rows = await desk.store.held_gauges()
        except DatabaseUnavailable:
            log.warning("held gauges not refreshed: PostgreSQL unavailable")
        else:
            now_seen: set[tuple[str, str, str]] = set()
            oldest: dict[str, float] = {}
            for municipality, department, reason, count, held_at in rows:
                key = (municipality, department or "none", reason)
                DeskMetrics.held.labels(*key).set(count)
                now_seen.add(key)
                oldest[municipality] = min(held_at, oldest.get(municipality, held_at))
            for key in seen - now_seen:  # nothing held there any more: back to zero
                DeskMetrics.held.labels(*key).set(0)
            for municipality, held_at in oldest.items():
                DeskMetrics.oldest_held.labels(municipality).set(held_at)
            for municipality in oldest_seen - set(oldest):
                DeskMetrics.oldest_held.remove(municipality)
            seen |= now_seen
            oldest_seen = set(oldest)
        await asyncio.sleep(interval)
