"""SMART Health Cards: the COVID-19 vaccination certificate as VRS issues it (F17-F19,
domain.md section 6), and their verification.

A card is a compact JWS (ES256; header `zip: DEF`, `kid` the JWK thumbprint of the
issuer's key) whose payload, raw-DEFLATEd, is `{iss, nbf, vc}` with a FHIR R4 Bundle of
one Patient and one Immunization per dose, references `resource:N`, no `id`, `meta` or
`text`. In a QR code it is `shc:/` followed by two digits per JWS character
(`ord(c) - 45`). The JOSE work is joserfc's; this module only builds and checks the
SMART Health Card's own rules.

This project's issuer is a test issuer with its own keys, never Japan's
(`https://vc.vrs.digital.go.jp/issuer`).
"""

from __future__ import annotations

import base64
import io
import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import segno
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from joserfc.jws import JWSRegistry
from joserfc.registry import HeaderParameter

from contracts.payloads import CovidDose

__all__ = [
    "SHC_TYPES",
    "CardError",
    "Issuer",
    "VerifiedCard",
    "from_qr_text",
    "health_card",
    "qr_png",
    "qr_png_bytes",
    "qr_text",
    "verify",
]

SHC_TYPES = ("https://smarthealth.cards#health-card",)
"""`vc.type`: the health-card type alone (`#immunization` and `#covid19` are deprecated)."""
QR_PREFIX = "shc:/"
# A single QR (version 22, error level L) holds at most 1,195 JWS characters.
MAX_SINGLE_QR = 1195
CVX = "http://hl7.org/fhir/sid/cvx"
# Product names as VRS records them, to CVX codes; anything else is "COVID-19, unspecified".
CVX_OF_PRODUCT = {
    "comirnaty": "208",
    "pfizer": "208",
    "spikevax": "207",
    "moderna": "207",
    "vaxzevria": "210",
    "astrazeneca": "210",
    "nuvaxovid": "211",
    "takeda": "211",
}
CVX_UNSPECIFIED = "213"
# `zip` is a SMART Health Card header that plain JWS does not know.
_REGISTRY = JWSRegistry(
    header_registry={"zip": HeaderParameter("compression of the payload", "str")},
    algorithms=["ES256"],
)


class CardError(ValueError):
    """A card that is not a valid SMART Health Card of a trusted issuer; says why."""


@dataclass(frozen=True)
class Issuer:
    """A certificate issuer: its URL and its P-256 signing key."""

    url: str
    key: ECKey

    @classmethod
    def generate(cls, url: str) -> Issuer:
        """A new issuer key (for tests and the demo's test issuer)."""
        return cls(url, ECKey.generate_key("P-256", private=True))

    @classmethod
    def load(cls, url: str, pem: Path) -> Issuer:
        """An issuer whose private key is a PEM file."""
        return cls(url, ECKey.import_key(pem.read_bytes()))

    @property
    def kid(self) -> str:
        """The RFC 7638 thumbprint of the public key, as SMART Health Cards require."""
        return str(self.key.thumbprint())

    def jwks(self) -> dict[str, Any]:
        """The public key set served at `<url>/.well-known/jwks.json`."""
        public = dict(self.key.as_dict(private=False))
        return {"keys": [public | {"kid": self.kid, "use": "sig", "alg": "ES256"}]}


@dataclass(frozen=True)
class VerifiedCard:
    """What a verified card says: issuer, when it became valid, the FHIR resources."""

    issuer: str
    issued_at: datetime
    patient: dict[str, Any]
    immunizations: tuple[dict[str, Any], ...]


def health_card(
    issuer: Issuer,
    *,
    name: str,
    birth_date: date,
    doses: Sequence[CovidDose],
    issued_at: datetime,
) -> str:
    """The compact JWS of a certificate for these doses (the ones given, in order)."""
    given = [d for d in sorted(doses, key=lambda d: d.dose_number) if d.status == "done"]
    if not given:
        raise CardError("doses: a certificate needs at least one dose given")
    payload = {
        "iss": issuer.url,
        "nbf": int(issued_at.timestamp()),
        "vc": {
            "type": list(SHC_TYPES),
            "credentialSubject": {
                "fhirVersion": "4.0.1",
                "fhirBundle": _bundle(name, birth_date, given),
            },
        },
    }
    minified = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    header = {"alg": "ES256", "zip": "DEF", "kid": issuer.kid}
    token = jws.serialize_compact(header, _deflate(minified), issuer.key, registry=_REGISTRY)
    if len(token) > MAX_SINGLE_QR:
        raise CardError(f"the card is {len(token)} characters; one QR holds {MAX_SINGLE_QR}")
    return token


def _bundle(name: str, birth_date: date, doses: Sequence[CovidDose]) -> dict[str, Any]:
    family, _, given = name.partition(" ")
    human = {"family": family, "given": [given]} if given else {"text": name}
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": "resource:0",
            "resource": {
                "resourceType": "Patient",
                "name": [human],
                "birthDate": birth_date.isoformat(),
            },
        }
    ]
    for index, dose in enumerate(doses, start=1):
        product = (dose.product_name or "").lower()
        code = next((c for k, c in CVX_OF_PRODUCT.items() if k in product), CVX_UNSPECIFIED)
        entries.append(
            {
                "fullUrl": f"resource:{index}",
                "resource": {
                    "resourceType": "Immunization",
                    "status": "completed",
                    "vaccineCode": {"coding": [{"system": CVX, "code": code}]},
                    "patient": {"reference": "resource:0"},
                    "occurrenceDateTime": dose.vaccinated_on.isoformat(),
                    "lotNumber": str(dose.lot_number),
                    # No protocolApplied: the Vaccination & Testing IG fixes it at 0..0; a
                    # dose is known by its date (the entries are in the order given).
                },
            }
        )
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def _deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw DEFLATE: no zlib header
    return compressor.compress(data) + compressor.flush()


def qr_text(token: str) -> str:
    """`shc:/` and two digits per JWS character."""
    return QR_PREFIX + "".join(f"{ord(c) - 45:02d}" for c in token)


def from_qr_text(text: str) -> str:
    """The JWS inside a `shc:/` numeric string; CardError if it is not one."""
    digits = text.strip().removeprefix(QR_PREFIX)
    if not text.strip().startswith(QR_PREFIX) or len(digits) % 2 or not digits.isdigit():
        raise CardError("not a shc:/ string of digit pairs")
    return "".join(chr(int(digits[i : i + 2]) + 45) for i in range(0, len(digits), 2))


def qr_png_bytes(token: str, *, scale: int = 4) -> bytes:
    """The card as a QR code PNG: `shc:/` in byte mode, the digits in numeric mode."""
    digits = qr_text(token).removeprefix(QR_PREFIX)
    # segno takes a list of (content, mode) segments; its annotation says str or bytes.
    segments: Any = [(QR_PREFIX, segno.consts.MODE_BYTE), (digits, segno.consts.MODE_NUMERIC)]
    code = segno.make(segments, error="l", micro=False)
    out = io.BytesIO()
    code.save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def qr_png(token: str, path: Path, *, scale: int = 4) -> Path:
    """The card's QR code written to a PNG file."""
    path.write_bytes(qr_png_bytes(token, scale=scale))
    return path


def verify(card: str, issuers: Sequence[Issuer | dict[str, Any]]) -> VerifiedCard:
    """Check a card (its JWS or its `shc:/` text) against trusted issuers: signature,
    header, issuer, DEFLATE payload and the Bundle's SMART Health Card rules."""
    token = from_qr_text(card) if card.strip().startswith(QR_PREFIX) else card.strip()
    try:
        header = json.loads(_b64url(token.split(".")[0]))
    except (ValueError, IndexError):
        raise CardError("not a compact JWS") from None
    if header.get("alg") != "ES256" or header.get("zip") != "DEF":
        raise CardError("header: alg must be ES256 and zip DEF")
    key, url = _key_for(header.get("kid"), issuers)
    try:
        signed = jws.deserialize_compact(token, key, registry=_REGISTRY)
        payload = json.loads(zlib.decompress(signed.payload, -15))
    except (JoseError, zlib.error, ValueError) as exc:
        raise CardError(f"signature or payload does not verify ({type(exc).__name__})") from None
    if payload.get("iss") != url:
        raise CardError("iss: not the issuer of the signing key")
    return _checked(payload)


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key_for(kid: object, issuers: Sequence[Issuer | dict[str, Any]]) -> tuple[ECKey, str]:
    for issuer in issuers:
        if isinstance(issuer, Issuer):
            if issuer.kid == kid:
                return ECKey.import_key(issuer.key.as_dict(private=False)), issuer.url
            continue
        for jwk in issuer.get("keys", []):
            if jwk.get("kid") == kid:
                return ECKey.import_key(jwk), str(issuer["url"])
    raise CardError("kid: not a key of a trusted issuer")


def _checked(payload: dict[str, Any]) -> VerifiedCard:
    vc = payload.get("vc") or {}
    if SHC_TYPES[0] not in vc.get("type", []):
        raise CardError("vc.type: not a health card")
    subject = vc.get("credentialSubject") or {}
    bundle = subject.get("fhirBundle") or {}
    if subject.get("fhirVersion") != "4.0.1" or bundle.get("resourceType") != "Bundle":
        raise CardError("credentialSubject: not a FHIR R4 Bundle")
    resources = []
    for index, entry in enumerate(bundle.get("entry", [])):
        resource = entry.get("resource") or {}
        if entry.get("fullUrl") != f"resource:{index}" or {"id", "meta", "text"} & set(resource):
            raise CardError(f"entry {index}: fullUrl must be resource:{index}, no id/meta/text")
        resources.append(resource)
    patients = [r for r in resources if r.get("resourceType") == "Patient"]
    shots = tuple(r for r in resources if r.get("resourceType") == "Immunization")
    if len(patients) != 1 or not shots:
        raise CardError("fhirBundle: one Patient and at least one Immunization")
    return VerifiedCard(
        issuer=str(payload["iss"]),
        issued_at=datetime.fromtimestamp(int(payload["nbf"]), UTC),
        patient=patients[0],
        immunizations=shots,
    )
