"""The JSON API of the approval desk (OpenAPI at /openapi.json)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from hub.approvals import Held, HeldState, Staff
from hub.desk import HeldView, ProvisionDirection, ProvisionState
from hub.web.common import COOKIE, DeskDep, StaffDep, secret_of, set_cookie, terminal

__all__ = ["router"]

router = APIRouter(prefix="/api")


class LoginRequest(BaseModel):
    """Credentials of a person."""

    user_id: str = Field(max_length=64)
    password: str = Field(max_length=1024)


class Account(BaseModel):
    """Who is signed in."""

    user_id: str
    roles: list[str]
    municipality: str
    department: str
    may_reveal: bool


class LoginResponse(BaseModel):
    """A new session: the token doubles as a bearer token; the cookie carries it too."""

    token: str
    account: Account


class HeldSummary(BaseModel):
    """A held message in a list (no content)."""

    message_id: str
    state: HeldState
    reason_code: str
    department: str
    routing_key: str
    kind: str | None
    procedure: str | None
    sender_system: str | None
    held_at: datetime
    expires_at: datetime
    decided_by: str | None
    decided_at: datetime | None


class HeldPage(BaseModel):
    """A page of held messages and the total that match."""

    total: int
    items: list[HeldSummary]


class HeldDetail(BaseModel):
    """A held message as its approver sees it: My Number masked."""

    message_id: str
    state: HeldState
    reason_code: str
    department: str
    municipality: str
    routing_key: str
    held_at: datetime
    expires_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    comment: str | None
    content_sha256: str
    masked_fields: list[str]
    envelope: dict[str, Any]


class Approval(BaseModel):
    """An approval: the content hash the approver was shown, and an optional comment."""

    content_sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description="the content_sha256 shown with the message; refused if it differs",
    )
    comment: str | None = Field(default=None, max_length=500)


class Rejection(BaseModel):
    """A rejection: the reason, required."""

    comment: str = Field(min_length=1, max_length=500)


class Decided(BaseModel):
    """The outcome of a decision."""

    message_id: str
    state: HeldState
    decided_by: str | None
    decided_at: datetime | None

    @classmethod
    def of(cls, held: Held) -> Decided:
        """From the desk's answer."""
        return cls(
            message_id=held.message_id,
            state=held.state,
            decided_by=held.decided_by,
            decided_at=held.decided_at,
        )


class Revealed(BaseModel):
    """The full My Numbers of a held message, by field path."""

    fields: dict[str, str]


class AuditEntry(BaseModel):
    """One audit row."""

    seq: int
    at: datetime
    actor: str
    action: str
    subject: str | None
    municipality: str | None
    terminal: dict[str, Any] | None
    detail: dict[str, Any]
    hash: str


class ProvisionRecord(BaseModel):
    """One 情報提供等記録 (R47)."""

    message_id: str
    correlation_id: str
    direction: ProvisionDirection
    kind: str
    procedure: str
    data_items: list[str]
    inquirer_system: str
    inquirer_municipality: str
    provider_system: str
    provider_municipality: str
    requested_at: datetime
    provided_at: datetime | None
    state: ProvisionState
    nondisclosure: bool
    retention_until: date


def _account_model(staff: Staff) -> Account:
    return Account(
        user_id=staff.user_id,
        roles=sorted(r.value for r in staff.roles),
        municipality=staff.municipality,
        department=staff.department,
        may_reveal=staff.may_reveal,
    )


@router.post("/session", tags=["session"])
async def api_login(
    *, body: LoginRequest, request: Request, response: Response, desk: DeskDep
) -> LoginResponse:
    secret, staff = await desk.login(body.user_id, body.password, terminal(request))
    set_cookie(request, response, secret)
    return LoginResponse(token=secret, account=_account_model(staff))


@router.delete("/session", tags=["session"], status_code=204)
async def api_logout(*, request: Request, desk: DeskDep) -> Response:
    await desk.logout(secret_of(request) or "", terminal(request))
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/session", tags=["session"])
async def api_whoami(*, staff: StaffDep) -> Account:
    return _account_model(staff)


@router.get("/held", tags=["held"])
async def api_held(
    *,
    staff: StaffDep,
    desk: DeskDep,
    municipality: str | None = None,
    department: str | None = None,
    state: HeldState | None = HeldState.HELD,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
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
async def api_held_one(*, message_id: str, staff: StaffDep, desk: DeskDep) -> HeldDetail:
    return _detail(await desk.show(staff, message_id))


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


@router.get("/audit", tags=["audit"])
async def api_audit(
    *,
    staff: StaffDep,
    desk: DeskDep,
    actor: str | None = None,
    action: str | None = None,
    subject: str | None = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[AuditEntry]:
    rows = await desk.audit_search(
        staff,
        actor=actor,
        action=action,
        subject=subject,
        since=since,
        limit=limit,
        offset=offset,
    )
    return [
        AuditEntry(
            seq=r.seq,
            at=r.at,
            actor=r.actor,
            action=r.action,
            subject=r.subject,
            municipality=r.municipality,
            terminal=dict(r.terminal) if r.terminal is not None else None,
            detail=dict(r.detail),
            hash=r.hash,
        )
        for r in rows
    ]


def _detail(view: HeldView) -> HeldDetail:
    row = view.row
    return HeldDetail(
        message_id=row.message_id,
        state=row.state,
        reason_code=row.reason_code,
        department=row.department,
        municipality=row.municipality,
        routing_key=row.routing_key,
        held_at=row.held_at,
        expires_at=row.expires_at,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        comment=row.comment,
        content_sha256=view.content_sha256,
        masked_fields=list(view.masked_paths),
        envelope=view.envelope,
    )


@router.get("/provision-records", tags=["audit"])
async def api_provision_records(
    *, staff: StaffDep, desk: DeskDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[ProvisionRecord]:
    rows = await desk.provision_records(staff, limit=limit)
    return [ProvisionRecord.model_validate(row, from_attributes=True) for row in rows]
