"""The JSON API of the approval desk (OpenAPI at /openapi.json); its bodies are in
`hub.web.models`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response

from hub.approvals import CHECKS_NEEDED, HeldState
from hub.web.common import COOKIE, DeskDep, StaffDep, secret_of, set_cookie, terminal
from hub.web.models import (
    Account,
    Approval,
    AuditEntry,
    Decided,
    HeldDetail,
    HeldPage,
    HeldSummary,
    ImportCheck,
    ImportDecided,
    ImportList,
    ImportSummary,
    LoginRequest,
    LoginResponse,
    ProvisionRecord,
    Rejection,
    Revealed,
    SignOff,
)
from hub.web.params import Municipality, Offset, Text, UtcMoment

__all__ = ["router"]

router = APIRouter(prefix="/api")


@router.post("/session", tags=["session"])
async def api_login(
    *, body: LoginRequest, request: Request, response: Response, desk: DeskDep
) -> LoginResponse:
    secret, staff = await desk.login(body.user_id, body.password, terminal(request))
    set_cookie(request, response, secret)
    return LoginResponse(token=secret, account=Account.of(staff))


@router.delete("/session", tags=["session"], status_code=204)
async def api_logout(*, request: Request, desk: DeskDep) -> Response:
    await desk.logout(secret_of(request) or "", terminal(request))
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/session", tags=["session"])
async def api_whoami(*, staff: StaffDep) -> Account:
    return Account.of(staff)


@router.get("/held", tags=["held"])
async def api_held(
    *,
    staff: StaffDep,
    desk: DeskDep,
    municipality: Municipality = None,
    department: Text = None,
    state: HeldState | None = HeldState.HELD,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> HeldPage:
    rows, total = await desk.held_list(
        staff,
        municipality=municipality,
        department=department,
        state=state.value if state else None,
        limit=limit,
        offset=offset,
    )
    items = [HeldSummary.model_validate(row, from_attributes=True) for row in rows]
    return HeldPage(total=total, items=items)


@router.get("/held/{message_id}", tags=["held"])
async def api_held_one(
    *, message_id: str, request: Request, staff: StaffDep, desk: DeskDep
) -> HeldDetail:
    return HeldDetail.of(await desk.show(staff, message_id, terminal(request)))


@router.post("/held/{message_id}/approve", tags=["held"])
async def api_approve(
    *, message_id: str, body: Approval, request: Request, staff: StaffDep, desk: DeskDep
) -> Decided:
    held = await desk.approve(
        staff,
        message_id,
        terminal=terminal(request),
        comment=body.comment,
        content_sha256=body.content_sha256,
    )
    return Decided.of(held)


@router.post("/held/{message_id}/reject", tags=["held"])
async def api_reject(
    *, message_id: str, body: Rejection, request: Request, staff: StaffDep, desk: DeskDep
) -> Decided:
    held = await desk.reject(staff, message_id, terminal=terminal(request), comment=body.comment)
    return Decided.of(held)


@router.post("/held/{message_id}/reveal", tags=["held"])
async def api_reveal(
    *, message_id: str, request: Request, staff: StaffDep, desk: DeskDep
) -> Revealed:
    return Revealed(fields=await desk.reveal(staff, message_id, terminal(request)))


@router.get("/imports", tags=["imports"])
async def api_imports(*, staff: StaffDep, desk: DeskDep) -> ImportList:
    """The manual imports (R01) held in the caller's municipality and department, for an
    operator to check and a 所属長 to sign off."""
    items = [
        ImportSummary.model_validate(batch, from_attributes=True)
        for batch in await desk.imports(staff)
    ]
    return ImportList(checks_needed=CHECKS_NEEDED, items=items)


@router.post("/imports/{batch}/check", tags=["imports"])
async def api_check_import(
    *,
    batch: str,
    request: Request,
    staff: StaffDep,
    desk: DeskDep,
    body: Annotated[ImportCheck | None, Body()] = None,
) -> ImportDecided:
    """An operator checks every row of a manual import (R01): once each, never their own."""
    shown = None if body is None else body.rows
    rows = await desk.check(staff, batch, terminal=terminal(request), rows=shown)
    return ImportDecided(batch=batch, rows=rows)


@router.post("/imports/{batch}/sign-off", tags=["imports"])
async def api_sign_off_import(
    *, batch: str, body: SignOff, request: Request, staff: StaffDep, desk: DeskDep
) -> ImportDecided:
    """A 所属長 signs off a manual import two operators checked (R01); its rows go out."""
    rows = await desk.sign_off(
        staff, batch, terminal=terminal(request), comment=body.comment, rows=body.rows
    )
    return ImportDecided(batch=batch, rows=rows)


@router.get("/audit", tags=["audit"])
async def api_audit(
    *,
    request: Request,
    staff: StaffDep,
    desk: DeskDep,
    actor: Text = None,
    action: Text = None,
    subject: Text = None,
    since: UtcMoment = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> list[AuditEntry]:
    rows = await desk.audit_search(
        staff,
        actor=actor,
        action=action,
        subject=subject,
        since=since,
        limit=limit,
        offset=offset,
        terminal=terminal(request),
    )
    return [AuditEntry.model_validate(row, from_attributes=True) for row in rows]


@router.get("/provision-records", tags=["audit"])
async def api_provision_records(
    *, staff: StaffDep, desk: DeskDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[ProvisionRecord]:
    rows = await desk.provision_records(staff, limit=limit)
    return [ProvisionRecord.model_validate(row, from_attributes=True) for row in rows]
