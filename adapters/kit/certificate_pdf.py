"""The COVID-19 vaccination certificate on paper (issue 16, F17-F19): an A4 page in
Japanese and English with the holder, each dose, the issuing municipality, the
certificate's id and date, and the SMART Health Card's QR code.

Everything the page says is read from the card itself, so the paper and its QR code
never disagree. The glyphs come from a Japanese TrueType font embedded in the PDF (as a
subset): IPA Gothic, Debian's `fonts-ipafont-gothic`, which `make tools` installs.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    Flowable,
    Image,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from adapters.kit.shc import IssuingBody, card_payload, qr_png_bytes
from adapters.kit.vaccines import CVX, PRODUCTS
from contracts.payloads import PassportInfo

__all__ = ["FONT_FILES", "FONT_NAME", "certificate_pdf", "font_file"]

FONT_NAME = "IPAGothic"
FONT_FILES = (
    Path("/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf"),  # Debian, Ubuntu
    Path("/usr/share/fonts/truetype/fonts-japanese-gothic.ttf"),  # Debian's alternative
    Path("/usr/share/fonts/ipa-gothic/ipag.ttf"),  # Fedora
)
"""Where IPA Gothic is looked for, in order."""
TITLE = ("新型コロナワクチン接種証明書", "Vaccination Certificate of COVID-19")
QR_WIDTH = 80 * mm
"""Wide enough for a phone to read a version-22 code from paper (about 0.7 mm a module)."""
QR_SCALE = 8
"""Pixels per module of the QR image: sharp when printed at that width."""

_TEXT = ParagraphStyle("text", fontName=FONT_NAME, fontSize=10.5, leading=14, wordWrap="CJK")
_LABEL = ParagraphStyle("label", parent=_TEXT, fontSize=8.5, leading=11, textColor=colors.gray)
_TITLE = ParagraphStyle("title", parent=_TEXT, fontSize=17, leading=24, alignment=1)
_SUBTITLE = ParagraphStyle("subtitle", parent=_TEXT, fontSize=12, leading=16, alignment=1)
_HEADING = ParagraphStyle("heading", parent=_TEXT, fontSize=12, leading=16, spaceBefore=6)
_CAPTION = ParagraphStyle("caption", parent=_LABEL, alignment=1)
_GRID = TableStyle(
    [
        ("GRID", (0, 0), (-1, -1), 0.5, colors.gray),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 4),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
    ]
)


def certificate_pdf(
    token: str,
    *,
    certificate_id: str,
    issued_on: date,
    issuing_body: IssuingBody | None = None,
    passport: PassportInfo | None = None,
) -> bytes:
    """The certificate of this card (its compact JWS) as an A4 portrait PDF: one page for
    the usual handful of doses, more flow onto a second. The issuer shown is
    `issuing_body`, or where it is not given the doses' `performer` as the card names it.
    A certificate for use abroad shows the `passport` it was issued against (its number
    and nationality, as Japan's overseas certificate does; the card carries neither).

    The card is read without verifying its signature: the certificate center has it
    sealed from VRS, which signed it, so it is the card VRS issued; a verifier reading
    the QR code checks the signature."""
    bundle = card_payload(token)["vc"]["credentialSubject"]["fhirBundle"]
    resources = [entry["resource"] for entry in bundle["entry"]]
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    shots = [r for r in resources if r["resourceType"] == "Immunization"]
    issuer = issuing_body.japanese + " / " + issuing_body.english if issuing_body else None
    _register_font()
    out = io.BytesIO()
    margin = 20 * mm
    page = SimpleDocTemplate(
        out,
        pagesize=A4,
        title=" / ".join(TITLE),
        leftMargin=margin,
        rightMargin=margin,
        topMargin=margin,
        bottomMargin=margin,
    )
    page.build(
        [
            Paragraph(TITLE[0], _TITLE),
            Paragraph(TITLE[1], _SUBTITLE),
            Spacer(0, 6 * mm),
            *_holder(patient, passport),
            *_doses(shots),
            *_issuance(issuer or _performer(shots), certificate_id, issued_on),
            *_qr(token),
        ]
    )
    return out.getvalue()


def font_file() -> Path:
    """The Japanese font the certificate embeds; FileNotFoundError, naming where it was
    looked for, when the machine has none."""
    for path in FONT_FILES:
        if path.is_file():
            return path
    looked = ", ".join(str(p) for p in FONT_FILES)
    raise FileNotFoundError(
        f"no IPA Gothic font for the certificate PDF (looked in {looked}); "
        "install fonts-ipafont-gothic (make tools)"
    )


def _register_font() -> None:
    if FONT_NAME not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(FONT_NAME, str(font_file())))


def _holder(patient: Mapping[str, Any], passport: PassportInfo | None) -> list[Flowable]:
    rows = [
        (_label("氏名", "Name"), _name(patient)),
        (_label("生年月日", "Date of birth"), str(patient.get("birthDate", ""))),
    ]
    if passport is not None:
        rows += [
            (_label("旅券番号", "Passport No."), passport.passport_number),
            (_label("国籍", "Nationality"), passport.nationality),
        ]
    return [Paragraph("接種者 / Vaccinated person", _HEADING), _table(rows, [45 * mm, 125 * mm])]


def _doses(shots: Sequence[Mapping[str, Any]]) -> list[Flowable]:
    header = (
        _label("回", "Dose"),
        _label("接種日", "Date"),
        _label("ワクチン", "Vaccine"),
        _label("ロット番号", "Lot"),
    )
    rows = [
        (str(n), str(shot.get("occurrenceDateTime", "")), _vaccine(shot), str(shot["lotNumber"]))
        for n, shot in enumerate(shots, start=1)
    ]
    return [
        Paragraph("接種記録 / Vaccination record", _HEADING),
        _table([header, *rows], [18 * mm, 32 * mm, 85 * mm, 35 * mm]),
    ]


def _issuance(issuer: str, certificate_id: str, issued_on: date) -> list[Flowable]:
    rows = [
        (_label("発行者", "Issuer"), issuer),
        (_label("証明書ID", "Certificate ID"), certificate_id),
        (_label("発行年月日", "Date of issue"), issued_on.isoformat()),
    ]
    return [Paragraph("発行 / Issuance", _HEADING), _table(rows, [45 * mm, 125 * mm])]


def _qr(token: str) -> list[Flowable]:
    png = io.BytesIO(qr_png_bytes(token, scale=QR_SCALE))
    return [
        Spacer(0, 6 * mm),
        Image(png, width=QR_WIDTH, height=QR_WIDTH),
        Paragraph("SMART Health Card", _CAPTION),
    ]


def _table(rows: Sequence[Sequence[str | Paragraph]], widths: Sequence[float]) -> Table:
    cells = [[c if isinstance(c, Paragraph) else _text(c) for c in row] for row in rows]
    return Table(cells, colWidths=list(widths), style=_GRID, hAlign="LEFT")


def _label(japanese: str, english: str) -> Paragraph:
    return Paragraph(f"{japanese} / {english}", _LABEL)


def _name(patient: Mapping[str, Any]) -> str:
    human = (patient.get("name") or [{}])[0]
    if "text" in human:
        return str(human["text"])
    return " ".join([str(human.get("family", "")), *map(str, human.get("given", []))]).strip()


def _vaccine(shot: Mapping[str, Any]) -> Paragraph:
    """The product as the card codes it: its names where the CVX code is one product's,
    the code's own description where several presentations share it (CVX codes no strain)."""
    codes = [c for c in shot.get("vaccineCode", {}).get("coding", []) if c.get("system") == CVX]
    code = str(codes[0].get("code")) if codes else "?"
    products = [p for p in PRODUCTS if p.cvx == code]
    if len(products) == 1:
        product = products[0]
        return _text(product.japanese, f"{product.english} ({product.maker}) · CVX {code}")
    if products:
        return _text(products[0].maker, f"{products[0].cvx_display} · CVX {code}")
    return _text(f"CVX {code}")


def _performer(shots: Sequence[Mapping[str, Any]]) -> str:
    for shot in shots:
        for performer in shot.get("performer", []):
            display = performer.get("actor", {}).get("display")
            if display:
                return str(display)
    return ""


def _text(*lines: str) -> Paragraph:
    """Lines of text from the card, as text (a paragraph would read `<` as markup)."""
    return Paragraph("<br/>".join(xml_escape(line) for line in lines), _TEXT)
