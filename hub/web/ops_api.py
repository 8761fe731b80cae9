"""The operator console's JSON API under /api/ops (OpenAPI tag `ops`), on the desk
(hub/desk/operations.py, hub/desk/redrives.py): metadata only, never cached; operators
and admins only, re-drives operators only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from hub.desk import DeskError
from hub.journey import JourneyKey, journey_key
from hub.store.operations import RedriveSelection
from hub.web.common import DeskDep, StaffDep, terminal
from hub.web.ops_common import NO_STORE, WINDOWS, FilterDep, redrivable
from hub.web.ops_models import (
    JourneyOut,
    MessageOut,
    MessagePage,
    OverviewOut,
    RedriveConfirm,
    RedrivePreviewOut,
    RedriveQueued,
    RedriveRequest,
)
from hub.web.params import Seq, SeqAfter
from hub.web.queues import queue_depths

__all__ = ["api"]

api = APIRouter(prefix="/api/ops", tags=["ops"])
Window = Annotated[str, Query(pattern="^(15m|1h|24h|7d)$")]


@api.get("/overview")
async def api_overview(
    *, response: Response, staff: StaffDep, desk: DeskDep, request: Request, window: Window = "1h"
) -> OverviewOut:
    overview = await desk.overview(staff, window_seconds=WINDOWS[window])
    response.headers.update(NO_STORE)
    return OverviewOut.of(overview, await queue_depths(request.app.state.settings))


@api.get("/messages")
async def api_messages(
    *,
    response: Response,
    staff: StaffDep,
    desk: DeskDep,
    where: FilterDep,
    after: SeqAfter = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> MessagePage:
    lines, cursor = await desk.browse(staff, where, after=after, limit=limit)
    response.headers.update(NO_STORE)
    return MessagePage(items=lines, next=cursor)


@api.get("/messages/{seq}")
async def api_message(
    *, seq: Seq, request: Request, response: Response, staff: StaffDep, desk: DeskDep
) -> MessageOut:
    journey = await desk.journey(staff, JourneyKey(f"#{seq}", seq=seq), terminal(request))
    hop = journey.hop(seq)
    if hop is None:  # pragma: no cover - a journey always holds the row it was asked for
        raise DeskError("not_found", "no journal row with that seq")
    response.headers.update(NO_STORE)
    return MessageOut(
        message=hop, redrivable=redrivable(hop, journey), journey=JourneyOut.of(journey)
    )


@api.get("/journey/{key}")
async def api_journey(
    *, key: str, request: Request, response: Response, staff: StaffDep, desk: DeskDep
) -> JourneyOut:
    try:
        wanted = journey_key(key)
    except ValueError as exc:
        raise DeskError("invalid_id", str(exc)) from None
    response.headers.update(NO_STORE)
    return JourneyOut.of(await desk.journey(staff, wanted, terminal(request)))


@api.post("/redrive/preview")
async def api_redrive_preview(
    *, body: RedriveRequest, staff: StaffDep, desk: DeskDep
) -> RedrivePreviewOut:
    return RedrivePreviewOut.of(await desk.redrive_preview(staff, _selection(body)))


@api.post("/redrive")
async def api_redrive(
    *, body: RedriveConfirm, request: Request, staff: StaffDep, desk: DeskDep
) -> RedriveQueued:
    queued = await desk.redrive(
        staff,
        _selection(body),
        selection_sha256=body.selection_sha256,
        terminal=terminal(request),
    )
    return RedriveQueued(
        queued=len(queued),
        redrives=[redrive for redrive, _ in queued],
        journal_seqs=[seq for _, seq in queued],
    )


def _selection(body: RedriveRequest) -> RedriveSelection:
    return RedriveSelection(
        journal_seq=body.journal_seq,
        reason_code=body.reason_code,
        since=body.since,
        until=body.until,
        kind=body.kind,
    )
