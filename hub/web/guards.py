"""What stands between the network and the desk's routes (issue 15): ASGI middleware,
outermost first, so that a refusal by any of them still carries the security headers.

    SecurityHeaders        every answer: a strict CSP (no inline script or style, no
                           third-party anything, no framing), nosniff, same-origin referrers,
                           no-store but for /static, HSTS when served over HTTPS
    TrustedHostMiddleware  (Starlette) a Host header not among desk.allowed_hosts: 400, so a
                           name an attacker's DNS rebinds to this machine reaches nothing
    DeclaredSize           a Content-Length over desk.max_body_bytes: 413 before any route
                           runs (a route that reads no body would otherwise run, then 413)
    RequestBodyLimitMiddleware  (Starlette) a body without a Content-Length is cut off,
                           413, once more than desk.max_body_bytes of it has been read
    SameOrigin             a state-changing request a browser could send on another site's
                           behalf (one with the session cookie, or a log-in) must name the
                           desk's own origin in Origin, or in Referer where Origin is
                           missing: 403 otherwise. The session cookie is SameSite=Strict
                           too, but that alone leaves the log-in form open and trusts every
                           browser to implement it; a bearer token is no browser's doing.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import cookie_parser
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.settings import DeskSettings

__all__ = [
    "CSP",
    "LOG_INS",
    "DeclaredSize",
    "SameOrigin",
    "SecurityHeaders",
    "allowed_hosts",
    "guard",
    "same_origin",
]

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Not no-referrer: under it a browser sends `Origin: null` with a same-origin form.
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
_HSTS = "max-age=31536000"
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOG_INS = frozenset({("POST", "/login"), ("POST", "/api/session")})
_PORTS = {"http": 80, "https": 443}
_WILDCARDS = frozenset({"", "0.0.0.0", "::"})  # noqa: S104 - names to leave out, not to bind


def guard(app: FastAPI, desk: DeskSettings, *, cookie: str) -> None:
    """Put the guards around `app` (add_middleware wraps what is there: innermost first)."""
    app.add_middleware(SameOrigin, cookie=cookie)
    app.add_middleware(RequestBodyLimitMiddleware, max_body_size=desk.max_body_bytes)
    app.add_middleware(DeclaredSize, limit=desk.max_body_bytes)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(desk), www_redirect=False)
    app.add_middleware(SecurityHeaders)


def allowed_hosts(desk: DeskSettings) -> list[str]:
    """The host names the desk answers to: the setting's and the address it listens on."""
    hosts = list(desk.allowed_hosts)
    if desk.http_host not in _WILDCARDS:
        hosts.append(f"[{desk.http_host}]" if ":" in desk.http_host else desk.http_host)
    return hosts


class SecurityHeaders:
    """Add the security headers to every answer (a route's own Cache-Control gives way:
    nothing but the style sheet may be kept by a cache, since pages and answers hold
    personal data, tokens and form tokens)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cacheable = scope["path"].startswith("/static/")
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                headers = MutableHeaders(scope=message)
                for name, value in _HEADERS.items():
                    headers.setdefault(name, value)
                if not cacheable:
                    headers["Cache-Control"] = "no-store"
                if https:
                    headers.setdefault("Strict-Transport-Security", _HSTS)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class DeclaredSize:
    """Answer 413 to a request whose Content-Length is over `limit`, reading none of it."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = Headers(scope=scope).get("content-length", "") if scope["type"] == "http" else ""
        if declared.isdigit() and int(declared) > self.limit:
            # The same answer as FastAPI gives when the limit is passed while reading.
            await JSONResponse({"detail": "Content Too Large"}, 413)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class SameOrigin:
    """Refuse (403 `cross_origin`) a state-changing request a browser could have been
    made to send from another site without naming the desk's own origin."""

    def __init__(self, app: ASGIApp, *, cookie: str) -> None:
        self.app = app
        self.cookie = cookie

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._forgeable(scope) and not same_origin(scope):
            refused = JSONResponse(
                {
                    "code": "cross_origin",
                    "detail": "a request that changes something must come from the desk's "
                    "own pages (its Origin, or Referer, names another site or none)",
                },
                403,
            )
            await refused(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _forgeable(self, scope: Scope) -> bool:
        if scope["method"] not in _UNSAFE:
            return False
        headers = Headers(scope=scope)
        if self.cookie in cookie_parser(headers.get("cookie", "")):
            return True
        # No cookie: only a log-in can be forged, and not one that carries a token.
        return (scope["method"], scope["path"]) in LOG_INS and "authorization" not in headers


def same_origin(scope: Scope) -> bool:
    """Whether the request's Origin (or, where it has none, its Referer) is the desk's own
    origin: the scheme it was served over and the Host it was sent to (which
    TrustedHostMiddleware has checked)."""
    headers = Headers(scope=scope)
    claimed = headers["origin"] if "origin" in headers else headers.get("referer")
    own = _origin(f"{scope.get('scheme', 'http')}://{headers.get('host', '')}")
    return claimed is not None and own is not None and _origin(claimed) == own


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a URL; None for `null` or anything but http(s)."""
    parts = urlsplit(url)
    if parts.scheme not in _PORTS or not parts.hostname:
        return None
    try:
        port = parts.port or _PORTS[parts.scheme]
    except ValueError:  # a port out of range or not a number
        return None
    return parts.scheme, parts.hostname, port
