"""The HTTP face of the certificate center: a terminal (kiosk, app or counter) posts an
application and gets the certificate back, as the JWS, its `shc:/` QR text, a PNG of
the QR code and the printable certificate (a PDF). Nothing is written anywhere (R50)."""

from __future__ import annotations

import base64

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from adapters.kiosk.bridge import CertificateCenter, DuplicateApplication, NoCertificate
from adapters.kit.card_check import CardRejected
from adapters.kit.certificate_pdf import certificate_pdf, font_file
from adapters.kit.shc import qr_png_bytes, qr_text
from contracts.payloads import CertificateApplication, CertificateIssued

__all__ = ["kiosk_app"]


def kiosk_app(center: CertificateCenter) -> FastAPI:
    """The center's HTTP API: `POST /applications`. FileNotFoundError when the machine
    lacks the certificate's Japanese font: at start-up, not at the first certificate."""
    font_file()
    app = FastAPI(title="Sesshu certificate center", docs_url=None, redoc_url=None)
    app.exception_handler(RequestValidationError)(_bad_request)

    @app.post("/applications", status_code=201)
    async def apply(application: CertificateApplication) -> Response:
        try:
            issued = await center.apply(application)
        except (CardRejected, DuplicateApplication, NoCertificate) as exc:
            return _refused(exc)
        return JSONResponse(_certificate(issued), status_code=201)

    return app


async def _bad_request(request: Request, exc: RequestValidationError) -> Response:
    # Name the field and the reason, never the input: it holds a My Number.
    errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
    return JSONResponse({"code": "invalid_application", "detail": errors}, status_code=422)


def _refused(exc: CardRejected | DuplicateApplication | NoCertificate) -> Response:
    """Why the terminal gets no certificate: the card (403), a second application with
    the same id while the first waits (409), or none issued in time (404)."""
    if isinstance(exc, CardRejected):
        return JSONResponse({"code": exc.code, "detail": str(exc)}, status_code=403)
    if isinstance(exc, DuplicateApplication):
        return JSONResponse({"code": "duplicate_application", "detail": str(exc)}, status_code=409)
    return JSONResponse({"code": "no_certificate", "detail": str(exc)}, status_code=404)


def _certificate(issued: CertificateIssued) -> dict[str, str]:
    """The certificate as the terminal gets it: the JWS, its QR text, a PNG of the QR and
    the certificate to print, each of the PNG and the PDF in base64."""
    pdf = certificate_pdf(
        issued.jws, certificate_id=issued.certificate_id, issued_on=issued.issued_on
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
