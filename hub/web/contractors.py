"""Contractors at the desk (R23): the routes a contractor's account may use, and an audit
row for every request one makes.

A contractor (委託作業者) maintains the hub; what that needs is the operator console's
read-only views: the overview, the message browser, a message's metadata and journey
(never a held message's content). So a contractor may use the routes of CONTRACTOR_ROUTES
and nothing else: no held queue or held message, no reveal, no approval or rejection, no
re-drive, no audit search or 情報提供等記録, no account change. It is a list of what is
allowed, checked before the route runs, so a route added later is closed to contractors
until it is named here; the desk's own role checks refuse the same again.

Every request a contractor's session or token authenticates, allowed or refused, is
audited (`contractor.request`: method, route template and path parameters, the answer's
status, the terminal), before the answer starts: if the row cannot be written, the answer
is a 500 and shows nothing.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.approvals import Role, Staff
from hub.desk import Desk, Forbidden, Terminal

__all__ = ["CONTRACTOR_ROUTES", "ContractorLog", "admit"]

CONTRACTOR_ROUTES = frozenset(
    {
        ("GET", "/api/session"),
        ("GET", "/api/ops/overview"),
        ("GET", "/api/ops/messages"),
        ("GET", "/api/ops/messages/{seq}"),
        ("GET", "/api/ops/journey/{key}"),
        ("GET", "/ops"),
        ("GET", "/ops/messages"),
        ("GET", "/ops/messages/{seq}"),
    }
)
"""(method, route template) of what a contractor may use (log-in and log-out need no
session, so they are not here: every contractor may sign out)."""
_STATE = "contractor"


def admit(request: Request, who: Staff, terminal: Terminal) -> None:
    """Mark a contractor's request for the audit, and refuse (403) one of a route that is
    not theirs; nothing for anyone else."""
    if Role.CONTRACTOR not in who.roles:
        return
    setattr(request.state, _STATE, (who, terminal))
    if (request.method, _template(request.scope)) not in CONTRACTOR_ROUTES:
        raise Forbidden(
            "not_for_contractors",
            "a contractor's account may use the operator console's read-only views only",
        )


def _template(scope: Scope) -> str | None:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else None


class ContractorLog:
    """ASGI middleware: audit each request `admit` marked, with its answer's status, before
    the answer is sent (an unhandled error: as 500)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # The request's state, made here so the routes' Request writes into this very dict.
        state: dict[str, Any] = scope.setdefault("state", {})
        started = False

        async def logged(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start" and not started:
                started = True
                await _record(scope, state, int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, logged)
        except Exception:
            if not started:
                await _record(scope, state, 500)
            raise


async def _record(scope: Scope, state: dict[str, Any], status: int) -> None:
    marked = state.get(_STATE)
    if marked is None:
        return
    who, terminal = marked
    desk: Desk = scope["app"].state.desk
    params = {k: str(v) for k, v in scope.get("path_params", {}).items()}
    await desk.contractor_request(
        who,
        method=scope["method"],
        route=_template(scope) or "(none)",
        params=params,
        status=status,
        terminal=terminal,
    )
