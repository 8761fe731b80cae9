"""`sesshu cert`: issuer keys, and verifying a card from its QR image, its shc:/ text or its
JWS, through the command as a user runs it (the adapters' plug-in to the hub's CLI)."""

from __future__ import annotations

import json
import stat
from datetime import UTC, date, datetime
from pathlib import Path

from PIL import Image
from typer.testing import CliRunner

from adapters.kit.shc import Issuer, IssuingBody, health_card, qr_png, qr_text
from contracts.payloads import CovidDose
from hub.cli import app

URL = "https://sesshu.example/issuer"
BODY = IssuingBody("茨城県筑西市", "Chikusei City, Ibaraki")
DOSE = CovidDose(
    dose_number=1,
    vaccinated_on=date(2021, 6, 1),
    manufacturer="0001",
    lot_number="EY1234",
    product_name="Comirnaty",
)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_an_issuer_key_then_a_card_verified_from_its_image_text_and_jws(tmp_path: Path) -> None:
    code, out = run("cert", "issuer-key", "--url", URL, "--out", str(tmp_path / "issuer"))
    assert code == 0, out
    pem, jwks = tmp_path / "issuer" / "issuer.pem", tmp_path / "issuer" / "jwks.json"
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    assert "d" not in json.loads(jwks.read_text())["keys"][0]

    issuer = Issuer.load(URL, pem)
    token = health_card(
        issuer,
        name="YAMADA TARO",
        birth_date=date(1960, 4, 1),
        doses=[DOSE],
        issued_at=datetime.now(UTC),
        issuing_body=BODY,
    )
    image = qr_png(token, tmp_path / "card.png")
    text = tmp_path / "card.txt"
    text.write_text(qr_text(token) + "\n")
    for card in (str(image), str(text), token, qr_text(token)):
        code, out = run("cert", "verify", card, "--jwks", str(jwks), "--issuer", URL)
        assert code == 0, out
        assert out.startswith(f"valid: issued by {URL}")
        assert "dose of 2021-06-01: CVX 208  lot EY1234" in out
        assert "YAMADA" not in out  # only with --show-patient
    code, out = run("cert", "verify", token, "--jwks", str(jwks), "--issuer", URL, "--show-patient")
    assert "patient YAMADA TARO, born 1960-04-01" in out


def _published_card(tmp_path: Path) -> tuple[Path, str]:
    """A new issuer's published key set, and a card it issued."""
    issuer = Issuer.generate(URL)
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(issuer.jwks()))
    token = health_card(
        issuer,
        name="A B",
        birth_date=date(1960, 4, 1),
        doses=[DOSE],
        issued_at=datetime.now(UTC),
        issuing_body=BODY,
    )
    return jwks, token


def test_bad_cards_exit_1_with_the_reason(tmp_path: Path) -> None:
    jwks, token = _published_card(tmp_path)
    blank = tmp_path / "blank.png"
    Image.new("RGB", (200, 200), "white").save(blank)
    cases = {
        token[:-4] + "AAAA": "does not verify",
        "shc:/123": "shc:/",
        str(blank): "no QR code found",
    }
    for card, reason in cases.items():
        code, out = run("cert", "verify", card, "--jwks", str(jwks), "--issuer", URL)
        assert code == 1, out
        assert reason in out
    code, out = run("cert", "verify", token, "--jwks", str(jwks), "--issuer", "https://other")
    assert code == 1
    assert "iss: not the issuer" in out


def test_a_hostile_health_card_file_is_named_and_refused(tmp_path: Path) -> None:
    """What a `.smart-health-card` file could hold besides cards: each refused with the
    reason and exit 1, never a traceback; of several cards, each bad one is named and the
    good ones still shown."""
    jwks, good = _published_card(tmp_path)
    cases = {
        "{not json": "verifiableCredential must be a list of cards",
        '{"verifiableCredential": "a.b.c"}': "verifiableCredential must be a list of cards",
        '{"verifiableCredential": []}': "verifiableCredential must be a list of cards",
        '{"verifiableCredential": [1, {"x": 2}]}': "each verifiableCredential must be a JWS",
        '{"something": "else"}': "verifiableCredential must be a list of cards",
    }
    for text, reason in cases.items():
        file = tmp_path / "card.smart-health-card"
        file.write_text(text)
        code, out = run("cert", "verify", str(file), "--jwks", str(jwks), "--issuer", URL)
        assert (code, reason in out) == (1, True), (text, out)
    mixed = tmp_path / "mixed.smart-health-card"
    mixed.write_text(json.dumps({"verifiableCredential": [good, good[:-4] + "AAAA"]}))
    code, out = run("cert", "verify", str(mixed), "--jwks", str(jwks), "--issuer", URL)
    assert code == 1
    assert f"card 1: valid: issued by {URL}" in out
    assert "card 2: error: signature or payload does not verify" in out
