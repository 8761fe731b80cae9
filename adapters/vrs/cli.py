"""`sesshu cert`: certificate issuer keys, and verifying SMART Health Cards from a QR
image, a `.smart-health-card` file, a text file, their `shc:/` text or their JWS. Plugged
into `sesshu` through the `sesshu.commands` entry point, so the hub's CLI knows nothing of
the adapters."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
import zxingcpp
from PIL import Image, UnidentifiedImageError

from adapters.kit.shc import CardError, Issuer, KeySet, VerifiedCard, code_label, verify

__all__ = ["cert_app", "read_cards"]

cert_app = typer.Typer(help="Vaccination certificates (SMART Health Cards).", no_args_is_help=True)


def read_cards(card: str) -> list[str]:
    """The cards a path or an argument holds: every QR code of an image (PNG, JPEG), every
    credential of a `.smart-health-card` file (`{"verifiableCredential": [...]}`), a text
    file's one card, or the argument itself (a JWS or `shc:/` text)."""
    # A JWS or shc:/ string is no file name (and too long for one).
    path = Path(card)
    if not _is_file(path):
        return [card.strip()]
    try:
        with Image.open(path) as image:
            found = [r.text for r in zxingcpp.read_barcodes(image) if r.text]
    except UnidentifiedImageError:
        return _text_cards(path)
    if not found:
        raise CardError(f"{path.name}: no QR code found in the image")
    return found


def _text_cards(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8").strip()
    if not text.startswith("{"):
        return [text]
    try:
        credentials = json.loads(text).get("verifiableCredential")
    except (ValueError, AttributeError):
        credentials = None
    if not isinstance(credentials, list) or not credentials:
        raise CardError(f"{path.name}: verifiableCredential must be a list of cards")
    if not all(isinstance(c, str) for c in credentials):
        raise CardError(f"{path.name}: each verifiableCredential must be a JWS")
    return list(credentials)


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name too long to be a file: the card itself
        return False


@cert_app.command("verify")
def cert_verify(
    card: Annotated[str, typer.Argument(help="QR image, text file, shc:/ text or JWS")],
    jwks: Annotated[Path, typer.Option(help="the issuer's key set (its .well-known/jwks.json)")],
    issuer: Annotated[str, typer.Option(help="the issuer URL the key set belongs to")],
    crl_dir: Annotated[
        Path | None,
        typer.Option(
            help="the issuer's revocation lists, <kid>.json (default: crl/ beside the key set)"
        ),
    ] = None,
    show_patient: Annotated[
        bool, typer.Option(help="also print the name and birth date on the card")
    ] = False,
) -> None:
    """Verify certificates: signature, issuer, validity period, revocation, and the SMART
    Health Card rules. Exit 1 if any card of CARD does not verify."""
    try:
        trusted = KeySet.load(issuer, jwks, crl_dir)
        cards = read_cards(card)
    except (OSError, ValueError) as exc:  # CardError is a ValueError
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    failed = False
    for index, text in enumerate(cards, start=1):
        prefix = f"card {index}: " if len(cards) > 1 else ""
        try:
            verified = verify(text, [trusted])
        except CardError as exc:
            typer.echo(f"{prefix}error: {exc}", err=True)
            failed = True
            continue
        for line in _summary(verified, show_patient=show_patient):
            typer.echo(prefix + line if line.startswith("valid") else line)
    if failed:
        raise typer.Exit(1)


def _summary(card: VerifiedCard, *, show_patient: bool) -> list[str]:
    lines = [f"valid: issued by {card.issuer} at {card.issued_at:%Y-%m-%d %H:%M} UTC"]
    if show_patient:
        name = card.patient.get("name", [{}])[0]
        text = name.get("text") or " ".join([name.get("family", ""), *name.get("given", [])])
        lines.append(f"  patient {text}, born {card.patient.get('birthDate')}")
    # By date: a card carries no dose numbers (the IG fixes protocolApplied at 0..0).
    for shot in sorted(card.immunizations, key=lambda s: str(s.get("occurrenceDateTime"))):
        codings = (shot.get("vaccineCode") or {}).get("coding") or [{}]
        codes = ", ".join(code_label(c) for c in codings)
        performer = ((shot.get("performer") or [{}])[0].get("actor") or {}).get("display")
        line = f"  dose of {shot.get('occurrenceDateTime')}: {codes}  lot {shot.get('lotNumber')}"
        lines.append(line + (f"  by {performer}" if performer else ""))
    return lines


@cert_app.command("issuer-key")
def issuer_key(
    url: Annotated[str, typer.Option(help="the issuer URL (a test issuer's own, never Japan's)")],
    out: Annotated[Path, typer.Option(help="directory for issuer.pem and jwks.json")],
) -> None:
    """Make a certificate issuer's P-256 key: issuer.pem (0600) and the public jwks.json."""
    out.mkdir(parents=True, exist_ok=True)
    made = Issuer.generate(url)
    pem = out / "issuer.pem"
    descriptor = os.open(pem, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(made.key.as_pem(private=True))
    (out / "jwks.json").write_text(json.dumps(made.jwks(), indent=2) + "\n", encoding="utf-8")
    typer.echo(f"issuer {url}: key {made.kid} in {pem}, public keys in {out / 'jwks.json'}")
