"""The printable certificate (issue 16): what it says is what its card says, in Japanese and
English, with the font embedded, and its QR code, printed and read back, is the card and
verifies. The page is rendered with poppler's pdftoppm, which `make tools` installs; the
rendered page is kept in var/screenshots/certificate.png, beside the browser tests' ones."""

from __future__ import annotations

import base64
import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path
from typing import cast

import pytest
import zxingcpp
from fastapi.testclient import TestClient
from PIL import Image

from adapters.kiosk.bridge import CertificateCenter
from adapters.kiosk.edge import kiosk_app
from adapters.kiosk.terminals import Terminal, TerminalFile, new_token, token_digest
from adapters.kit import certificate_pdf as module
from adapters.kit.certificate_pdf import FONT_NAME, certificate_pdf
from adapters.kit.shc import Issuer, IssuingBody, health_card, verify
from contracts.examples import example_payload
from contracts.payloads import CertificateApplication, CertificateIssued, CovidDose

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
ISSUER = Issuer.generate("https://sesshu.example/issuer")
BODY = IssuingBody("茨城県筑西市", "Chikusei City, Ibaraki")
ISSUED = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
CERTIFICATE_ID = "CHK-2026-000123"
DOSES = [
    CovidDose(
        dose_number=1,
        vaccinated_on=date(2021, 6, 1),
        manufacturer="0001",
        lot_number="EY5678",
        product_name="コミナティ筋注",
    ),
    CovidDose(
        dose_number=2,
        vaccinated_on=date(2021, 7, 1),
        manufacturer="0002",
        lot_number="FF1234",
        product_name="スパイクバックス筋注",
    ),
]
LABELS = (
    "新型コロナワクチン接種証明書",
    "Vaccination Certificate of COVID-19",
    "氏名 / Name",
    "生年月日 / Date of birth",
    "接種日 / Date",
    "ワクチン / Vaccine",
    "ロット番号 / Lot",
    "発行者 / Issuer",
    "証明書ID / Certificate ID",
    "発行年月日 / Date of issue",
)


def _card() -> str:
    return health_card(
        ISSUER,
        name="筑西 花子",
        birth_date=date(1980, 4, 2),
        doses=DOSES,
        issued_at=ISSUED,
        issuing_body=BODY,
    )


def _pdf(issuing_body: IssuingBody | None = None) -> bytes:
    return certificate_pdf(
        _card(), certificate_id=CERTIFICATE_ID, issued_on=ISSUED.date(), issuing_body=issuing_body
    )


def _poppler(tool: str) -> str:
    """A poppler-utils command; a failure, not a skip, where the machine lacks it."""
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is missing: run `make tools` (it installs poppler-utils)")
    return path


def _text(pdf: bytes, tmp_path: Path) -> str:
    source = tmp_path / "certificate.pdf"
    source.write_bytes(pdf)
    command = [_poppler("pdftotext"), "-layout", str(source), "-"]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def test_the_printed_qr_code_is_the_card_and_verifies(tmp_path: Path) -> None:
    pdf = _pdf()
    assert pdf.startswith(b"%PDF")
    assert b"/FontFile2" in pdf  # the TrueType font itself, not a name for the viewer
    assert FONT_NAME.encode() in pdf
    (tmp_path / "certificate.pdf").write_bytes(pdf)
    command = [_poppler("pdftoppm"), "-r", "150", "-png", "-singlefile"]
    subprocess.run([*command, "certificate.pdf", "page"], cwd=tmp_path, check=True)
    page = tmp_path / "page.png"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(page, SCREENSHOTS / "certificate.png")

    with Image.open(page) as image:
        (barcode,) = zxingcpp.read_barcodes(image)
    card = verify(barcode.text, [ISSUER], now=ISSUED)

    assert barcode.text.startswith("shc:/")
    assert card.patient["name"] == [{"family": "筑西", "given": ["花子"]}]
    assert card.patient["birthDate"] == "1980-04-02"
    assert [(s["occurrenceDateTime"], s["lotNumber"]) for s in card.immunizations] == [
        ("2021-06-01", "EY5678"),
        ("2021-07-01", "FF1234"),
    ]
    assert [s["vaccineCode"]["coding"][0]["code"] for s in card.immunizations] == ["208", "207"]


def test_the_page_says_what_the_card_says_in_japanese_and_english(tmp_path: Path) -> None:
    text = _text(_pdf(), tmp_path)

    for label in LABELS:
        assert label in text, label
    for value in (CERTIFICATE_ID, "2026-11-26", "筑西 花子", "1980-04-02"):
        assert value in text, value
    for value in ("2021-06-01", "EY5678", "コミナティ筋注", "Comirnaty"):
        assert value in text, value
    for value in ("2021-07-01", "FF1234", "スパイクバックス筋注", "Spikevax"):
        assert value in text, value
    assert "茨城県筑西市" in text
    assert "Chikusei City, Ibaraki" in text


def test_an_issuing_body_given_is_the_issuer_shown(tmp_path: Path) -> None:
    other = IssuingBody("茨城県結城市", "Yuki City, Ibaraki")

    text = _text(_pdf(issuing_body=other), tmp_path)

    assert "茨城県結城市 / Yuki City, Ibaraki" in text
    assert "筑西市" not in text


def test_a_machine_without_the_font_is_told_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(module, "FONT_FILES", (tmp_path / "ipag.ttf",))

    with pytest.raises(FileNotFoundError, match="fonts-ipafont-gothic") as raised:
        module.font_file()
    assert str(tmp_path / "ipag.ttf") in str(raised.value)


class _Center:
    """A certificate center that has the card already (the edge, without the bridge)."""

    async def apply(
        self, application: CertificateApplication, terminal: Terminal, operator: str | None
    ) -> CertificateIssued:
        return CertificateIssued(
            application_id=application.application_id,
            certificate_id=CERTIFICATE_ID,
            issued_on=ISSUED.date(),
            jws=_card(),
        )


def test_the_center_hands_the_certificate_to_print_to_every_terminal(tmp_path: Path) -> None:
    token = new_token()
    registry = tmp_path / "terminals.toml"
    registry.write_text(
        f'[terminals.app-0001]\nchannel = "app"\ntoken_sha256 = "{token_digest(token)}"\n'
    )
    city = IssuingBody("茨城県結城市", "Yuki City, Ibaraki")  # the center's own, always shown
    app = kiosk_app(cast(CertificateCenter, _Center()), TerminalFile(registry), city)
    application = example_payload("certificate_application").model_dump(
        mode="json", exclude={"channel"}
    )

    with TestClient(app) as client:
        answer = client.post(
            "/applications", json=application, headers={"Authorization": f"Bearer {token}"}
        )

    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert set(body) == {"certificate_id", "issued_on", "jws", "qr", "qr_png_base64", "pdf_base64"}
    text = _text(base64.b64decode(body["pdf_base64"]), tmp_path)
    assert CERTIFICATE_ID in text
    assert "茨城県結城市 / Yuki City, Ibaraki" in text  # not left to the doses' performer
    # The example is for use abroad: the page shows the passport it was issued against.
    passport = application["passport"]
    for shown in ("旅券番号 / Passport No.", passport["passport_number"], "国籍 / Nationality"):
        assert shown in text, shown
    domestic = _text(_pdf(), tmp_path)
    assert "Passport No." not in domestic
