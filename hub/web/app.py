"""The approval desk over HTTP: a JSON API (OpenAPI at /openapi.json) and server-rendered
pages for approvers, both on `hub.desk.Desk`.

Every endpoint but /healthz and the log-in needs a live session (cookie, set by log-in) or
an API token (`Authorization: Bearer ...`); the desk checks role, municipality and
department. Forms carry a token derived from the session secret, and every state-changing
request a browser could send on another site's behalf must name the desk's own origin, so
another site cannot post on an approver's behalf (the cookie is also SameSite=Strict);
`hub.web.guards` holds that and the other guards: host names, body sizes, headers. No
Swagger UI or ReDoc: they load their scripts from a CDN.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from hub.desk import Desk, DeskError, NotAuthenticated
from hub.errors import DatabaseUnavailable
from hub.service import open_desk
from hub.settings import Settings
from hub.web import api, audit_review, ops, pages
from hub.web.common import COOKIE, templates
from hub.web.contractors import ContractorLog
from hub.web.guards import guard
from hub.web.telemetry import count_requests, refresh_held_gauges

__all__ = ["create_app"]

HERE = Path(__file__).parent


def create_app(settings: Settings, desk: Desk | None = None) -> FastAPI:
    """The HTTP application; it opens (and closes) its own desk unless given one."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened = desk or await open_desk(settings)
        app.state.desk = opened
        gauges = asyncio.create_task(refresh_held_gauges(opened))
        try:
            yield
        finally:
            gauges.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await gauges
            if desk is None:
                await opened.store.close()

    app = FastAPI(
        title="Sesshu Hub approval desk",
        version="1",
        lifespan=lifespan,
        description="Held messages (自動応答不可フラグ, R37), their approval, and the audit trail.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(api.router)
    app.include_router(audit_review.api)
    app.include_router(pages.router)
    app.include_router(ops.router)
    app.include_router(audit_review.pages)

    app.exception_handler(DeskError)(_desk_error)
    app.exception_handler(DatabaseUnavailable)(_database_away)
    app.exception_handler(RequestValidationError)(_bad_request)
    app.add_middleware(ContractorLog)  # inside the guards: it sees what the routes answer
    guard(app, settings.desk, cookie=COOKIE)
    app.middleware("http")(count_requests)  # outermost: refusals are counted too
    if settings.telemetry.tracing:
        FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,static")

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


async def _desk_error(request: Request, exc: DeskError) -> Response:
    """A refusal: its code as JSON to the API, a page (or the log-in) to a person."""
    if request.url.path.startswith("/api/") or request.url.path == "/healthz":
        return JSONResponse(
            {"code": exc.code, "detail": exc.reason},
            status_code=exc.status,
            headers={"WWW-Authenticate": "Bearer"} if exc.status == 401 else None,
        )
    if isinstance(exc, NotAuthenticated):
        return RedirectResponse("/login", status_code=303)
    return templates.TemplateResponse(
        request, "error.html", {"error": exc, "account": None}, status_code=exc.status
    )


async def _database_away(request: Request, exc: DatabaseUnavailable) -> Response:
    return JSONResponse(
        {"code": "database_unavailable", "detail": "the database does not answer; retry"},
        status_code=503,
        headers={"Retry-After": "5"},
    )


async def _bad_request(request: Request, exc: RequestValidationError) -> Response:
    # FastAPI's default echoes the input, which may be a password or a name: name the
    # field and the reason only.
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    return JSONResponse({"code": "invalid_request", "detail": errors}, status_code=422)
