"""What the API and the pages share: the desk and account dependencies, sessions in
cookies or bearer tokens, the form token, the terminal of a request."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.templating import Jinja2Templates

from hub.approvals import Staff
from hub.desk import Desk, Terminal
from hub.web.contractors import admit

__all__ = [
    "COOKIE",
    "DeskDep",
    "StaffDep",
    "csrf_token",
    "secret_of",
    "set_cookie",
    "templates",
    "terminal",
]

COOKIE = "sesshu_session"
HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")


def terminal(request: Request) -> Terminal:
    client = request.client.host if request.client else "unknown"
    return Terminal(client, request.headers.get("user-agent", ""))


def secret_of(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(COOKIE)


def csrf_token(secret: str) -> str:
    """The form token of a session: bound to its secret, useless without it."""
    return hashlib.sha256(b"sesshu-csrf\n" + secret.encode()).hexdigest()


def _desk(request: Request) -> Desk:
    desk: Desk = request.app.state.desk
    return desk


async def _account(request: Request) -> Staff:
    # Only from the account's terminals (R27); a contractor only on its routes (R23).
    where = terminal(request)
    account = await _desk(request).authenticate(secret_of(request), where)
    admit(request, account, where)
    return account


DeskDep = Annotated[Desk, Depends(_desk)]
StaffDep = Annotated[Staff, Depends(_account)]


def set_cookie(request: Request, response: Response, secret: str) -> None:
    """Put a new session's secret in an HttpOnly, SameSite=Strict cookie."""
    max_age = request.app.state.settings.desk.session_hours * 3600
    response.set_cookie(
        COOKIE,
        secret,
        max_age=int(max_age),
        httponly=True,
        samesite="strict",
        secure=request.app.state.settings.desk.secure_cookies or request.url.scheme == "https",
        path="/",
    )
