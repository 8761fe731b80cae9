"""`sesshu cert`: certificate issuer keys, and verifying a SMART Health Card from its QR
image, its `shc:/` text or its JWS. Plugged into `sesshu` through the `sesshu.commands`
entry point, so the hub's CLI knows nothing of the adapters."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
import zxingcpp
from PIL import Image, UnidentifiedImageError

from adapters.kit.shc import CardError, Issuer, VerifiedCard, verify

__all__ = ["cert_app", "read_card"]

cert_app = typer.Typer(help="Vaccination certificates (SMART Health Cards).", no_args_is_help=True)


def read_card(card: str) -> str:
    """The card's text: from a QR image (PNG, JPEG), a text file, or the argument itself."""
    # A JWS or shc:/ string is no file name (and too long for one).
    path = Path(card)
    if _is_file(path):
        try:
            with Image.open(path) as image:
                found = [r.text for r in zxingcpp.read_barcodes(image) if r.text]
        except UnidentifiedImageError:
            return path.read_text(encoding="utf-8").strip()
        if not found:
            raise CardError(f"{path.name}: no QR code found in the image")
        return found[0]
    return card.strip()


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
    show_patient: Annotated[
        bool, typer.Option(help="also print the name and birth date on the card")
    ] = False,
) -> None:
    """Verify a certificate: signature, issuer, and the SMART Health Card rules."""
    try:
        keys: dict[str, Any] = json.loads(jwks.read_text(encoding="utf-8"))
        verified = verify(read_card(card), [keys | {"url": issuer}])
    except (OSError, ValueError) as exc:  # CardError is a ValueError
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for line in _summary(verified, show_patient=show_patient):
        typer.echo(line)


def _summary(card: VerifiedCard, *, show_patient: bool) -> list[str]:
    lines = [f"valid: issued by {card.issuer} at {card.issued_at:%Y-%m-%d %H:%M} UTC"]
    if show_patient:
        name = card.patient.get("name", [{}])[0]
        text = name.get("text") or " ".join([name.get("family", ""), *name.get("given", [])])
        lines.append(f"  patient {text}, born {card.patient.get('birthDate')}")
    # By date: a card carries no dose numbers (the IG fixes protocolApplied at 0..0).
    for shot in sorted(card.immunizations, key=lambda s: str(s.get("occurrenceDateTime"))):
        code = shot["vaccineCode"]["coding"][0]["code"]
        lines.append(
            f"  dose of {shot['occurrenceDateTime']}: CVX {code}  lot {shot.get('lotNumber')}"
        )
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
