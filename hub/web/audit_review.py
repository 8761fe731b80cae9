"""The periodic review of the audit trail over HTTP (R17): the auditor's page
(`/audit/review`, a form to mark the period reviewed) and its JSON (`GET/POST
/api/audit/review`), on the desk (hub/desk/reviewing.py). Auditors (their municipality's
rows) and admins (every row) only: anyone else 403, audited; nothing cached.

The period is `since` and `until`, each a duration (`7d`) or an ISO 8601 time, as for
`sesshu audit review`; a bad one is 400 `invalid_filter` naming the bound, never the
text. A mark names the period exactly and may carry the digest of the report read, so
what is marked is what was read (409 `report_changed` otherwise)."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import AfterValidator, BaseModel, Field

from hub.desk import DeskError
from hub.log_review import JST, Period, PeriodInvalid, parse_period
from hub.web.common import DeskDep, StaffDep, csrf_token, secret_of, templates, terminal
from hub.web.ops_common import NO_STORE
from hub.web.params import printable

__all__ = ["api", "pages"]

api = APIRouter(prefix="/api/audit", tags=["audit"])
pages = APIRouter(include_in_schema=False)

Bound = Annotated[
    str | None,
    Query(max_length=40, description="a duration (7d, 12h, 30m) or ISO 8601 (naive: UTC)"),
    AfterValidator(printable),
]
SHA256 = r"^[0-9a-f]{64}$"


class ReviewMarkRequest(BaseModel):
    """Mark a period reviewed: its bounds, and the digest of the report that was read."""

    since: Annotated[str | None, Field(max_length=40), AfterValidator(printable)] = None
    until: Annotated[str | None, Field(max_length=40), AfterValidator(printable)] = None
    sha256: str | None = Field(default=None, pattern=SHA256)


def _period(since: str | None, until: str | None) -> Period:
    try:
        return parse_period(since or None, until or None, datetime.now(UTC))
    except PeriodInvalid as exc:
        raise DeskError("invalid_filter", str(exc)) from None


@api.get("/review")
async def api_review(
    *,
    request: Request,
    response: Response,
    staff: StaffDep,
    desk: DeskDep,
    since: Bound = None,
    until: Bound = None,
) -> dict[str, Any]:
    made = await desk.review(staff, _period(since, until), terminal(request))
    response.headers.update(NO_STORE)
    return made.as_json()


@api.post("/review")
async def api_mark_reviewed(
    *,
    body: ReviewMarkRequest,
    request: Request,
    response: Response,
    staff: StaffDep,
    desk: DeskDep,
) -> dict[str, Any]:
    period = _period(body.since, body.until)
    mark, made = await desk.mark_reviewed(staff, period, terminal(request), sha256=body.sha256)
    response.headers.update(NO_STORE)
    return {"mark": {"seq": mark.seq, "by": mark.by, **mark.detail()}, "report": made.as_json()}


@pages.get("/audit/review")
async def review_page(
    *,
    request: Request,
    staff: StaffDep,
    desk: DeskDep,
    since: Bound = None,
    until: Bound = None,
    marked: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> Response:
    made = await desk.review(staff, _period(since, until), terminal(request))
    secret = secret_of(request)
    context = {
        "account": staff,
        "csrf": csrf_token(secret) if secret else "",
        "report": made,
        "jst": _jst,
        "bounds": made.period.as_dict(),
        "marked": marked,
    }
    page = templates.TemplateResponse(request, "audit_review.html", context)
    page.headers.update(NO_STORE)
    return page


@pages.post("/audit/review")
async def mark_form(
    *,
    request: Request,
    staff: StaffDep,
    desk: DeskDep,
    csrf: Annotated[str, Form()],
    since: Annotated[str, Form(max_length=40), AfterValidator(printable)],
    until: Annotated[str, Form(max_length=40), AfterValidator(printable)],
    sha256: Annotated[str, Form(pattern=SHA256)],
) -> Response:
    if not hmac.compare_digest(csrf_token(secret_of(request) or ""), csrf):
        raise HTTPException(status_code=403, detail="form token does not match the session")
    period = _period(since, until)
    mark, _ = await desk.mark_reviewed(staff, period, terminal(request), sha256=sha256)
    query = urlencode({**period.as_dict(), "marked": mark.seq})
    return RedirectResponse(f"/audit/review?{query}", status_code=303)


def _jst(moment: datetime | None) -> str:
    return "—" if moment is None else f"{moment.astimezone(JST):%Y-%m-%d %H:%M} JST"
