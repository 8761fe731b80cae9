"""The approver pages: log in, the queue of held messages, one message, approve or
reject with a comment. Server-rendered (Jinja2); forms carry the session's form token."""

from __future__ import annotations

import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import AfterValidator

from hub.approvals import CHECKS_NEEDED, Role
from hub.desk import Forbidden, NotAuthenticated
from hub.web.common import (
    COOKIE,
    DeskDep,
    StaffDep,
    csrf_token,
    secret_of,
    set_cookie,
    templates,
    terminal,
)
from hub.web.params import printable

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    secret = secret_of(request)
    context = {"csrf": csrf_token(secret) if secret else "", **context}
    return templates.TemplateResponse(request, name, context, status_code=status)


def _check_csrf(request: Request, token: str) -> None:
    secret = secret_of(request) or ""
    if not hmac.compare_digest(csrf_token(secret), token):
        raise HTTPException(status_code=403, detail="form token does not match the session")


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/held", status_code=303)


@router.get("/login")
async def login_page(*, request: Request) -> Response:
    return _page(request, "login.html", {"account": None, "failed": False})


@router.post("/login")
async def login_form(
    *,
    request: Request,
    desk: DeskDep,
    user_id: Annotated[str, Form(max_length=64), AfterValidator(printable)],
    password: Annotated[str, Form(max_length=1024)],
) -> Response:
    try:
        secret, who = await desk.login(user_id, password, terminal(request))
    except NotAuthenticated:
        return _page(request, "login.html", {"account": None, "failed": True}, status=401)
    # A contractor has no held queue: the console is all it may use (hub/web/contractors.py).
    response = RedirectResponse(
        "/ops" if Role.CONTRACTOR in who.roles else "/held", status_code=303
    )
    set_cookie(request, response, secret)
    return response


@router.post("/logout")
async def logout_form(
    *, request: Request, desk: DeskDep, csrf: Annotated[str, Form()] = ""
) -> Response:
    _check_csrf(request, csrf)
    await desk.logout(secret_of(request) or "", terminal(request))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/held", response_class=HTMLResponse)
async def queue_page(
    *,
    request: Request,
    staff: StaffDep,
    desk: DeskDep,
    done: Annotated[str | None, Query(pattern="^(approved|rejected)$")] = None,
) -> Response:
    try:
        held, total = await desk.held_list(staff, limit=200)
    except Forbidden as exc:  # an operator, say: refused, with the way to the console
        return _page(request, "error.html", {"account": staff, "error": exc}, exc.status)
    now = datetime.now(UTC)
    # (row, how long it has waited, how long it has left)
    rows = [(row, _age(now - row.held_at), _age(row.expires_at - now)) for row in held]
    return _page(
        request,
        "queue.html",
        {"account": staff, "rows": rows, "total": total, "done": done},
    )


@router.get("/held/{message_id}", response_class=HTMLResponse)
async def held_page(
    *, request: Request, message_id: str, staff: StaffDep, desk: DeskDep
) -> Response:
    view = await desk.show(staff, message_id, terminal(request))
    return _page(
        request,
        "held.html",
        {
            "account": staff,
            "held": view.row,
            "content_sha256": view.content_sha256,
            "masked": view.masked_paths,
            "review": view.review,
            "unreadable": view.unreadable,
            "facts": json.dumps(view.envelope, ensure_ascii=False, indent=2),
            "payload_kind": view.envelope.get("kind"),
        },
    )


@router.post("/held/{message_id}/approve")
async def approve_form(
    *,
    request: Request,
    message_id: str,
    staff: StaffDep,
    desk: DeskDep,
    csrf: Annotated[str, Form()],
    content_sha256: Annotated[str, Form()],
    comment: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    _check_csrf(request, csrf)
    await desk.approve(
        staff,
        message_id,
        terminal=terminal(request),
        comment=comment.strip() or None,
        content_sha256=content_sha256,
    )
    return RedirectResponse("/held?done=approved", status_code=303)


@router.post("/held/{message_id}/reject")
async def reject_form(
    *,
    request: Request,
    message_id: str,
    staff: StaffDep,
    desk: DeskDep,
    csrf: Annotated[str, Form()],
    comment: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    _check_csrf(request, csrf)
    await desk.reject(staff, message_id, terminal=terminal(request), comment=comment)
    return RedirectResponse("/held?done=rejected", status_code=303)


@router.get("/imports", response_class=HTMLResponse)
async def imports_page(
    *,
    request: Request,
    staff: StaffDep,
    desk: DeskDep,
    done: Annotated[str | None, Query(pattern="^(checked|signed-off)$")] = None,
) -> Response:
    """The manual imports waiting for their checks and sign-off (R01)."""
    try:
        batches = await desk.imports(staff)
    except Forbidden as exc:
        return _page(request, "error.html", {"account": staff, "error": exc}, exc.status)
    now = datetime.now(UTC)
    rows = [(batch, _age(batch.expires_at - now)) for batch in batches]
    context = {"account": staff, "rows": rows, "done": done, "needed": CHECKS_NEEDED}
    return _page(request, "imports.html", context)


@router.post("/imports/{batch}/check")
async def check_form(
    *,
    request: Request,
    batch: str,
    staff: StaffDep,
    desk: DeskDep,
    csrf: Annotated[str, Form()],
    rows: Annotated[int, Form(ge=1, le=1_000_000)],
) -> Response:
    _check_csrf(request, csrf)
    await desk.check(staff, batch, terminal=terminal(request), rows=rows)
    return RedirectResponse("/imports?done=checked", status_code=303)


@router.post("/imports/{batch}/sign-off")
async def sign_off_form(
    *,
    request: Request,
    batch: str,
    staff: StaffDep,
    desk: DeskDep,
    csrf: Annotated[str, Form()],
    rows: Annotated[int, Form(ge=1, le=1_000_000)],
    comment: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    _check_csrf(request, csrf)
    await desk.sign_off(
        staff, batch, terminal=terminal(request), comment=comment.strip() or None, rows=rows
    )
    return RedirectResponse("/imports?done=signed-off", status_code=303)


def _age(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 0:
        return "overdue"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"
