"""The HTTP face of the certificate center: a terminal (kiosk, app or counter) posts an
application and gets the certificate back, as the JWS, its `shc:/` QR text and a PNG of
the QR code. Nothing is written anywhere (R50)."""

from __future__ import annotations

import base64

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from adapters.kiosk.bridge import CertificateCenter, DuplicateApplication, NoCertificate
from adapters.kit.card_check import CardRejected
from adapters.kit.shc import qr_png_bytes, qr_text
from contracts.payloads import CertificateApplication

__all__ = ["kiosk_app"]


def kiosk_app(center: CertificateCenter) -> FastAPI:
    """The center's HTTP API: `POST /applications`."""
    app = FastAPI(title="Sesshu certificate center", docs_url=None, redoc_url=None)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        # Name the field and the reason, never the input: it holds a My Number.
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        return JSONResponse({"code": "invalid_application", "detail": errors}, status_code=422)

    @app.post("/applications", status_code=201)
    async def apply(application: CertificateApplication) -> Response:
        try:
            issued = await center.apply(application)
        except CardRejected as exc:
            return JSONResponse({"code": exc.code, "detail": str(exc)}, status_code=403)
        except DuplicateApplication as exc:
            return JSONResponse(
                {"code": "duplicate_application", "detail": str(exc)}, status_code=409
            )
        except NoCertificate as exc:
            return JSONResponse({"code": "no_certificate", "detail": str(exc)}, status_code=404)
        png = base64.b64encode(qr_png_bytes(issued.jws)).decode()
        return JSONResponse(
            {
                "certificate_id": issued.certificate_id,
                "issued_on": issued.issued_on.isoformat(),
                "jws": issued.jws,
                "qr": qr_text(issued.jws),
                "qr_png_base64": png,
            },
            status_code=201,
        )

    return app
