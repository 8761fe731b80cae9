"""The HTTP face of the certificate center: a terminal (kiosk, app or counter) posts an
application and gets the certificate back, as the JWS, its `shc:/` QR text, a PNG of
the QR code and the printable certificate (a PDF). The terminal proves who it is with its
own credential and the application takes that terminal's channel (the request names
none); a counter's request also carries the credential of the clerk who took it
(`X-Clerk-Token`: the staff account is the clerk's whose token it is) and the ID-check
record (`identity_check`). Nothing of the person or the certificate is
written anywhere (R50)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from concurrent.futures import ThreadPoolExecutor

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from adapters.kiosk.bridge import (
    CertificateCenter,
    CertificateRefused,
    DuplicateApplication,
    NoCertificate,
)
from adapters.kiosk.terminals import Terminal, TerminalFile
from adapters.kit.card_check import CardRejected
from adapters.kit.certificate_pdf import certificate_pdf, font_file
from adapters.kit.shc import IssuingBody, qr_png_bytes, qr_text
from contracts.payloads import CertificateApplication, CertificateIssued, PassportInfo

__all__ = ["kiosk_app"]

log = logging.getLogger("sesshu.adapters.kiosk")
MAX_BODY = 64 * 1024
"""An application is a few kilobytes; anything larger is refused unread."""
_PRINTER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="certificate-pdf")
CLERK_HEADER = "X-Clerk-Token"
CLERK_UNAUTHENTICATED = (
    "a counter application carries the clerk's own credential (X-Clerk-Token), "
    "which the clerk signs in to the counter's application with"
)
UNAUTHENTICATED = (
    "the center takes applications only from its terminals, each with its own credential "
    "(Authorization: Bearer)"
)


def kiosk_app(
    center: CertificateCenter, terminals: TerminalFile, issuing_body: IssuingBody | None = None
) -> FastAPI:
    """The center's HTTP API: `POST /applications`, from a terminal of the registry only
    (401 for anything else, before the body is read); the printed certificate names
    `issuing_body` as its issuer (the city). FileNotFoundError when the machine
    lacks the certificate's Japanese font: at start-up, not at the first certificate."""
    font_file()
    app = FastAPI(title="Sesshu certificate center", docs_url=None, redoc_url=None)

    @app.post("/applications", status_code=201)
    async def apply(request: Request) -> Response:
        terminal = terminals.authenticate(request.headers.get("authorization"))
        if terminal is None:
            client = request.client.host if request.client else "unknown"
            log.warning("an application from %s without a terminal's credential", client)
            return JSONResponse(
                {"code": "terminal_unauthenticated", "detail": UNAUTHENTICATED},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="certificate-center"'},
            )
        body = await _capped_body(request)
        if body is None:
            return _invalid([("body", f"at most {MAX_BODY} bytes")], status=413)
        parsed = _application(body, terminal)
        if isinstance(parsed, list):
            return _invalid(parsed)
        application = parsed
        operator = None
        if terminal.channel == "counter":
            # The clerk is who signed in at the counter, by their own credential.
            operator = terminals.clerk(request.headers.get(CLERK_HEADER))
            if operator is None:
                log.warning("counter terminal %s: an application without a clerk", terminal.id)
                await center.refused_unsigned(application, terminal)
                return JSONResponse(
                    {"code": "clerk_unauthenticated", "detail": CLERK_UNAUTHENTICATED},
                    status_code=403,
                )
        try:
            issued = await center.apply(application, terminal, operator)
        except (CardRejected, CertificateRefused, DuplicateApplication, NoCertificate) as exc:
            return _refused(exc)
        # reportlab takes ~0.1 s a page: one worker off the event loop, one page at a time.
        passport = application.passport if application.use == "overseas" else None
        answer = await asyncio.get_running_loop().run_in_executor(
            _PRINTER, _certificate, issued, passport, issuing_body
        )
        return JSONResponse(answer, status_code=201)

    return app


async def _capped_body(request: Request) -> bytes | None:
    """The body, or None once it is longer than MAX_BODY: a declared length is refused
    unread, a streamed one as soon as it passes the cap."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _application(body: bytes, terminal: Terminal) -> CertificateApplication | list[tuple[str, str]]:
    """The application a terminal sent, on the terminal's channel; or what is wrong with
    it (field, reason)."""
    fields = _fields(body)
    if isinstance(fields, list):
        return fields
    try:
        return CertificateApplication.model_validate(fields | {"channel": terminal.channel})
    except ValidationError as exc:
        return [
            (".".join(map(str, e.get("loc", ()))) or "body", e.get("msg", ""))
            for e in exc.errors(include_input=False, include_url=False)
        ]


def _fields(body: bytes) -> dict[str, object] | list[tuple[str, str]]:
    try:
        fields = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return [("body", "not JSON")]
    if not isinstance(fields, dict):
        return [("body", "must be a JSON object")]
    for named, rule in (
        ("channel", "the channel is the authenticated terminal's, never a request field"),
        ("operator", f"the clerk is the one whose credential {CLERK_HEADER} carries"),
    ):
        if named in fields:
            return [(named, rule)]
    return fields


def _invalid(problems: list[tuple[str, str]], status: int = 422) -> Response:
    errors = [{"loc": ["body", *field.split(".")], "msg": msg} for field, msg in problems]
    return JSONResponse({"code": "invalid_application", "detail": errors}, status_code=status)


def _refused(
    exc: CardRejected | CertificateRefused | DuplicateApplication | NoCertificate,
) -> Response:
    """Why the terminal gets no certificate: the card or the counter's checks (403), VRS's
    refusal with its code (404 where it has no record to certify, 403 otherwise), an
    application id made already (409), or no answer in time (504)."""
    if isinstance(exc, CardRejected):
        return JSONResponse({"code": exc.code, "detail": str(exc)}, status_code=403)
    if isinstance(exc, CertificateRefused):
        status = 404 if exc.code == "no_record" else 403
        return JSONResponse({"code": exc.code, "detail": str(exc)}, status_code=status)
    if isinstance(exc, DuplicateApplication):
        return JSONResponse({"code": "duplicate_application", "detail": str(exc)}, status_code=409)
    return JSONResponse({"code": "no_certificate", "detail": str(exc)}, status_code=504)


def _certificate(
    issued: CertificateIssued, passport: PassportInfo | None, issuing_body: IssuingBody | None
) -> dict[str, str]:
    """The certificate as the terminal gets it: the JWS, its QR text, a PNG of the QR and
    the certificate to print (with the passport it was issued against, for use abroad),
    each of the PNG and the PDF in base64."""
    pdf = certificate_pdf(
        issued.jws,
        certificate_id=issued.certificate_id,
        issued_on=issued.issued_on,
        issuing_body=issuing_body,
        passport=passport,
    )
    return {
        "certificate_id": issued.certificate_id,
        "issued_on": issued.issued_on.isoformat(),
        "jws": issued.jws,
        "qr": qr_text(issued.jws),
        "qr_png_base64": _base64(qr_png_bytes(issued.jws)),
        "pdf_base64": _base64(pdf),
    }


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode()
