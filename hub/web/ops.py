"""The operator console over HTTP: server-rendered pages under /ops here, JSON under
/api/ops in `hub.web.ops_api`, both on the desk (hub/desk/operations.py,
hub/desk/redrives.py). Operators and admins only (others get 403); metadata only, never a
payload; nothing cached. The re-drive forms carry the session's form token like the
approver's, and a confirmation carries the digest of what its dry run showed
(hub/redrive.py)."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import AfterValidator

from hub.desk import DeskError
from hub.journey import JourneyKey
from hub.store.operations import RedriveSelection
from hub.web.common import DeskDep, StaffDep, csrf_token, secret_of, templates, terminal
from hub.web.ops_api import api
from hub.web.ops_common import DECISIONS, NO_STORE, WINDOWS, FilterDep, redrivable, when
from hub.web.params import BIGINT_MAX, Seq, SeqAfter, printable
from hub.web.queues import queue_depths

__all__ = ["router"]

pages = APIRouter(include_in_schema=False)
router = APIRouter()


def _page(request: Request, name: str, context: dict[str, Any]) -> Response:
    secret = secret_of(request)
    context = {"csrf": csrf_token(secret) if secret else "", **context}
    response = templates.TemplateResponse(request, name, context)
    response.headers.update(NO_STORE)
    return response


def _check_csrf(request: Request, token: str) -> None:
    if not hmac.compare_digest(csrf_token(secret_of(request) or ""), token):
        raise HTTPException(status_code=403, detail="form token does not match the session")


@pages.get("/ops")
async def ops_page(
    *,
    request: Request,
    staff: StaffDep,
    desk: DeskDep,
    window: Annotated[str, Query(max_length=8)] = "1h",
    redrive: Annotated[str, Query(pattern="^[0-9]{0,6}$")] = "",
) -> Response:
    window = window if window in WINDOWS else "1h"
    overview = await desk.overview(staff, window_seconds=WINDOWS[window])
    since = datetime.now(UTC) - timedelta(seconds=WINDOWS[window])
    pivot: dict[str, dict[str, int]] = {}
    for kind, decision, count in overview.throughput:
        pivot.setdefault(kind, {})[decision] = count
    return _page(
        request,
        "ops.html",
        {
            "account": staff,
            "overview": overview,
            "pivot": pivot,
            "decisions": DECISIONS,
            "age": _age,
            "queues": await queue_depths(request.app.state.settings),
            "window": window,
            "windows": list(WINDOWS),
            "since": since.isoformat(timespec="seconds"),
            "redrive": redrive,
        },
    )


@pages.get("/ops/messages")
async def messages_page(
    *,
    request: Request,
    staff: StaffDep,
    desk: DeskDep,
    where: FilterDep,
    after: SeqAfter = None,
) -> Response:
    lines, cursor = await desk.browse(staff, where, after=after)
    shown = {k: v for k, v in request.query_params.items() if k != "after" and v}
    following = None if cursor is None else "?" + urlencode({**shown, "after": cursor})
    return _page(
        request,
        "ops_messages.html",
        {
            "account": staff,
            "lines": lines,
            "filters": shown,
            "next": following,
            "first": "?" + urlencode(shown) if after else None,
            "decisions": DECISIONS,
        },
    )


@pages.get("/ops/messages/{seq}")
async def message_page(
    *,
    request: Request,
    seq: Seq,
    staff: StaffDep,
    desk: DeskDep,
    redrive: Annotated[str, Query(pattern="^(queued)?$")] = "",
) -> Response:
    journey = await desk.journey(staff, JourneyKey(f"#{seq}", seq=seq), terminal(request))
    hop = journey.hop(seq)
    return _page(
        request,
        "ops_message.html",
        {
            "account": staff,
            "hop": hop,
            "journey": journey,
            "timeline": journey.timeline(),
            "redrivable": hop is not None and redrivable(hop, journey),
            "redrive": redrive,
        },
    )


def _form_selection(
    journal_seq: str, reason_code: str, since: str, until: str, kind: str
) -> RedriveSelection:
    try:
        seq = int(journal_seq) if journal_seq else None
    except ValueError:
        raise DeskError("invalid_selection", "journal_seq: a number") from None
    if seq is not None and not 1 <= seq <= BIGINT_MAX:
        raise DeskError("invalid_selection", "journal_seq: a journal row's seq")
    return RedriveSelection(
        journal_seq=seq,
        reason_code=reason_code or None,
        since=when(since, "since"),
        until=when(until, "until"),
        kind=kind or None,
    )


FormText = Annotated[str, Form(max_length=64), AfterValidator(printable)]


@pages.post("/ops/redrive")
async def redrive_dry_run(
    *,
    request: Request,
    staff: StaffDep,
    desk: DeskDep,
    csrf: Annotated[str, Form()],
    journal_seq: FormText = "",
    reason_code: FormText = "",
    since: FormText = "",
    until: FormText = "",
    kind: FormText = "",
) -> Response:
    _check_csrf(request, csrf)
    selection = _form_selection(journal_seq, reason_code, since, until, kind)
    preview = await desk.redrive_preview(staff, selection)
    return _page(
        request,
        "ops_redrive.html",
        {"account": staff, "preview": preview, "fields": selection.as_dict()},
    )


@pages.post("/ops/redrive/confirm")
async def redrive_confirm(
    *,
    request: Request,
    staff: StaffDep,
    desk: DeskDep,
    csrf: Annotated[str, Form()],
    selection_sha256: Annotated[str, Form(max_length=64)],
    journal_seq: FormText = "",
    reason_code: FormText = "",
    since: FormText = "",
    until: FormText = "",
    kind: FormText = "",
) -> Response:
    _check_csrf(request, csrf)
    selection = _form_selection(journal_seq, reason_code, since, until, kind)
    queued = await desk.redrive(
        staff, selection, selection_sha256=selection_sha256, terminal=terminal(request)
    )
    if selection.journal_seq is not None:
        where = f"/ops/messages/{selection.journal_seq}?redrive=queued"
    else:
        where = f"/ops?redrive={len(queued)}"
    return RedirectResponse(where, status_code=303)


def _age(seconds: float) -> str:
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


router.include_router(api)
router.include_router(pages)
