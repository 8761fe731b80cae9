"""The SMART Health Cards specification's official examples (tests/data/shc-examples, with
their source and licence) through our verifier, in every form a verifier meets them: the
JWS, the `shc:/` text, the `.smart-health-card` file and the QR image. Example 00 and 01
are accepted; 03 is refused for having expired, and, on a day before it expired, for being
on its issuer's revocation list."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from reportlab.graphics import renderPDF
from svglib.svglib import svg2rlg
from typer.testing import CliRunner

from adapters.kit.shc import CardError, KeySet, from_qr_text, verify
from adapters.vrs.cli import read_cards
from hub.cli import app

DATA = Path(__file__).resolve().parents[1] / "data" / "shc-examples"
SPEC_ISSUER = "https://spec.smarthealth.cards/examples/issuer"
JWKS = DATA / "issuer" / ".well-known" / "jwks.json"
BEFORE_EXPIRY = datetime(2023, 7, 1, tzinfo=UTC)  # 03's nbf is 2023-06-22, its exp 2024-06-21


def keys() -> KeySet:
    return KeySet.load(SPEC_ISSUER, JWKS)


def qr_image(example: str, tmp_path: Path) -> Path:
    """The example's official QR image (SVG) as a PNG a camera would give: drawn to a PDF,
    then rasterised by poppler's pdftoppm."""
    assert shutil.which("pdftoppm"), "pdftoppm is missing: run `make tools` (poppler-utils)"
    drawing = svg2rlg(str(DATA / f"example-{example}-g-qr-code-0.svg"))
    assert drawing is not None
    drawing.scale(4, 4)
    drawing.width, drawing.height = drawing.width * 4, drawing.height * 4
    pdf = tmp_path / f"qr-{example}.pdf"
    renderPDF.drawToFile(drawing, str(pdf))
    subprocess.run(
        ["pdftoppm", "-r", "150", "-png", "-singlefile", str(pdf), str(tmp_path / f"qr-{example}")],
        check=True,
    )
    return tmp_path / f"qr-{example}.png"


def forms(example: str, tmp_path: Path) -> dict[str, list[str]]:
    """The cards each form of an example holds, as `sesshu cert verify` reads them."""
    jws = (DATA / f"example-{example}-d-jws.txt").read_text().strip()
    return {
        "jws": read_cards(jws),
        "shc:/ text": read_cards(
            (DATA / f"example-{example}-f-qr-code-numeric-value-0.txt").read_text()
        ),
        "text file": read_cards(str(DATA / f"example-{example}-f-qr-code-numeric-value-0.txt")),
        ".smart-health-card": read_cards(str(DATA / f"example-{example}-e-file.smart-health-card")),
        "QR image": read_cards(str(qr_image(example, tmp_path))),
    }


@pytest.mark.parametrize("example", ["00", "01"])
def test_examples_00_and_01_are_accepted_in_every_form(example: str, tmp_path: Path) -> None:
    expected = json.loads((DATA / f"example-{example}-e-file.smart-health-card").read_text())
    for form, cards in forms(example, tmp_path).items():
        assert len(cards) == 1, form
        verified = verify(cards[0], [keys()])
        assert verified.issuer == SPEC_ISSUER, form
        assert [s["vaccineCode"]["coding"][0]["code"] for s in verified.immunizations] == [
            "207",
            "207",
            "229",
        ], form
        token = from_qr_text(cards[0]) if cards[0].startswith("shc:/") else cards[0]
        assert token == expected["verifiableCredential"][0], form  # one card, whatever form


def test_example_03_is_refused_for_expiry_and_for_revocation(tmp_path: Path) -> None:
    for form, cards in forms("03", tmp_path).items():
        with pytest.raises(CardError, match="exp: the card expired on 2024-06-21") as expired:
            verify(cards[0], [keys()])
        assert expired.value.code == "expired", form
        # Before it expired, its rid was on the issuer's revocation list (with a
        # timestamp after the card's nbf: issued before the revocation took effect).
        with pytest.raises(CardError, match="revoked") as revoked:
            verify(cards[0], [keys()], now=BEFORE_EXPIRY)
        assert revoked.value.code == "revoked", form


def test_a_key_that_lists_revocations_needs_its_revocation_list(tmp_path: Path) -> None:
    """Example 00's key names crlVersion 1: without the list (or with an older one, or one
    of another key) the verifier cannot know the card is not revoked, and says so."""
    card = (DATA / "example-00-d-jws.txt").read_text()
    empty = tmp_path / "no-crls"
    empty.mkdir()
    with pytest.raises(CardError, match="no revocation list") as missing:
        verify(card, [KeySet.load(SPEC_ISSUER, JWKS, empty)])
    assert missing.value.code == "revocation_unknown"
    (kid,) = [k["kid"] for k in json.loads(JWKS.read_text())["keys"] if "crlVersion" in k]
    crl = json.loads((JWKS.parent / "crl" / f"{kid}.json").read_text())
    for stale, reason in (
        (crl | {"ctr": 0}, "older than the key set"),
        (crl | {"kid": "another"}, "not a rid list of this key"),
        (crl | {"method": "status-list"}, "not a rid list of this key"),
    ):
        (empty / f"{kid}.json").write_text(json.dumps(stale))
        with pytest.raises(CardError, match=reason):
            verify(card, [KeySet.load(SPEC_ISSUER, JWKS, empty)])
    # Example 00's own rid is not on the list: accepted with the real one.
    assert verify(card, [keys()]).issuer == SPEC_ISSUER


def test_sesshu_cert_verify_reads_the_official_file_and_refuses_03() -> None:
    base = ["cert", "verify", "--jwks", str(JWKS), "--issuer", SPEC_ISSUER]
    runner = CliRunner()
    good = runner.invoke(app, [*base, str(DATA / "example-00-e-file.smart-health-card")])
    assert good.exit_code == 0, good.output
    assert good.output.startswith(f"valid: issued by {SPEC_ISSUER}")
    assert "dose of 2021-01-01: CVX 207  lot 0000001  by ABC General Hospital" in good.output
    bad = runner.invoke(app, [*base, str(DATA / "example-03-e-file.smart-health-card")])
    assert bad.exit_code == 1
    assert "error: exp: the card expired on 2024-06-21" in bad.output
