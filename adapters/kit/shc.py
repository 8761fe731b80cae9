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
import re
import zlib
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import segno
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from joserfc.jws import JWSRegistry
from joserfc.registry import HeaderParameter

from adapters.kit.vaccines import CVX, UnknownProduct, cvx_of
from contracts.payloads import CovidDose

__all__ = [
    "SHC_TYPES",
    "CardError",
    "Issuer",
    "IssuingBody",
    "KeySet",
    "VerifiedCard",
    "card_payload",
    "code_label",
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
CLOCK_SKEW = timedelta(minutes=5)
"""How far in the future a card's `nbf` may be and still be taken (the issuer's clock)."""
CODE_SYSTEMS = {
    CVX: "CVX",
    "http://snomed.info/sct": "SNOMED CT",
    "http://id.who.int/icd/release/11/mms": "ICD-11",
    "http://loinc.org": "LOINC",
}
_REFERENCE = re.compile(r"resource:(0|[1-9][0-9]*)")
_RID = re.compile(r"[A-Za-z0-9_-]{1,24}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}(\.[0-9]{1,6})?")
MAX_CARD = 64 * 1024
"""The longest card text taken (a JWS for a file; a single QR holds 1,195 characters)."""
MAX_PAYLOAD = 1024 * 1024
"""The most a card's payload may inflate to."""
# `zip` is a SMART Health Card header that plain JWS does not know.
_REGISTRY = JWSRegistry(
    header_registry={"zip": HeaderParameter("compression of the payload", "str")},
    algorithms=["ES256"],
)


class CardError(ValueError):
    """A card that is not a valid SMART Health Card of a trusted issuer, or one that cannot
    be issued; says why (never quoting the card), `code` for the record."""

    def __init__(self, reason: str, code: str = "invalid_card") -> None:
        super().__init__(reason)
        self.code = code


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
class IssuingBody:
    """The municipality a certificate names as its issuer (発行者), in both languages."""

    japanese: str
    english: str

    @property
    def display(self) -> str:
        """As the card's `performer.actor.display` gives it: readable abroad and at home."""
        return f"{self.english} ({self.japanese})"


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
    issuing_body: IssuingBody,
    given_elsewhere: Collection[int] = (),
) -> str:
    """The compact JWS of a certificate for these doses (the ones given, in order), each
    performed, as far as the card says, by `issuing_body` (the municipality that gave it
    under the vaccination programme), except those `given_elsewhere` (by dose number:
    taken in from a former city, whose performer the records do not name, so the card
    names none). `name` is as the card shows it: the name on the passport for overseas
    use. CardError (`unknown_product`) for a dose whose product is not on the table."""
    given = [d for d in sorted(doses, key=lambda d: d.dose_number) if d.status == "done"]
    if not given:
        raise CardError("doses: a certificate needs at least one dose given", "no_record")
    payload = {
        "iss": issuer.url,
        "nbf": int(issued_at.timestamp()),
        "vc": {
            "type": list(SHC_TYPES),
            "credentialSubject": {
                "fhirVersion": "4.0.1",
                "fhirBundle": _bundle(name, birth_date, given, issuing_body, given_elsewhere),
            },
        },
    }
    minified = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    header = {"alg": "ES256", "zip": "DEF", "kid": issuer.kid}
    token = jws.serialize_compact(header, _deflate(minified), issuer.key, registry=_REGISTRY)
    if len(token) > MAX_SINGLE_QR:
        raise CardError(
            f"the card is {len(token)} characters; one QR holds {MAX_SINGLE_QR}", "card_too_large"
        )
    return token


def _bundle(
    name: str,
    birth_date: date,
    doses: Sequence[CovidDose],
    issuing_body: IssuingBody,
    given_elsewhere: Collection[int],
) -> dict[str, Any]:
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
        try:
            code = cvx_of(dose.product_name, dose.vaccinated_on).cvx
        except UnknownProduct as exc:
            raise CardError(f"dose {dose.dose_number}: {exc}", "unknown_product") from None
        shot: dict[str, Any] = {
            "resourceType": "Immunization",
            "status": "completed",
            "vaccineCode": {"coding": [{"system": CVX, "code": code}]},
            "patient": {"reference": "resource:0"},
            "occurrenceDateTime": dose.vaccinated_on.isoformat(),
            "lotNumber": str(dose.lot_number),
            # No protocolApplied: the Vaccination & Testing IG fixes it at 0..0; a dose
            # is known by its date (the entries are in the order given).
        }
        if dose.dose_number not in given_elsewhere:
            shot["performer"] = [{"actor": {"display": issuing_body.display}}]
        entries.append({"fullUrl": f"resource:{index}", "resource": shot})
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


@dataclass(frozen=True)
class KeySet:
    """An issuer a verifier trusts: its URL, its public key set (`.well-known/jwks.json`)
    and the revocation lists of its keys that name a `crlVersion`
    (`.well-known/crl/<kid>.json`), by kid."""

    url: str
    keys: tuple[dict[str, Any], ...]
    crls: Mapping[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, issuer: Issuer) -> KeySet:
        """The public side of one of our issuers (it revokes nothing)."""
        return cls.parse(issuer.url, issuer.jwks())

    @classmethod
    def parse(
        cls, url: str, jwks: Mapping[str, Any], crls: Mapping[str, dict[str, Any]] | None = None
    ) -> KeySet:
        """A key set as published; CardError if a key is not what the specification asks:
        EC P-256 for ES256, and its `kid` its RFC 7638 thumbprint."""
        _check_issuer_url(url, "issuer")
        keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
        if not isinstance(keys, list) or not keys:
            raise CardError("jwks: no keys")
        for index, jwk in enumerate(keys):
            if not isinstance(jwk, dict) or jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
                raise CardError(f"jwks.keys[{index}]: not an EC P-256 key")
            try:
                thumbprint = ECKey.import_key(_public(jwk)).thumbprint()
            except (JoseError, ValueError, TypeError):
                raise CardError(f"jwks.keys[{index}]: not a valid public key") from None
            if jwk.get("kid") != thumbprint:
                raise CardError(f"jwks.keys[{index}]: kid is not the key's thumbprint")
            if "d" in jwk:
                raise CardError(f"jwks.keys[{index}]: a published key set holds no private key")
            if jwk.get("use") != "sig" or jwk.get("alg") != "ES256":
                raise CardError(f'jwks.keys[{index}]: must be use "sig" and alg "ES256"')
        return cls(url, tuple(keys), dict(crls or {}))

    @classmethod
    def load(cls, url: str, jwks: Path, crl_dir: Path | None = None) -> KeySet:
        """A key set from its file and the revocation lists beside it (`<crl_dir>/<kid>.json`,
        by default the `crl/` folder next to the key set, as under `.well-known/`)."""
        published = cls.parse(url, json.loads(jwks.read_text(encoding="utf-8")))
        folder = crl_dir if crl_dir is not None else jwks.parent / "crl"
        crls: dict[str, dict[str, Any]] = {}
        for jwk in published.keys:  # checked: each kid is a thumbprint, no path
            path = folder / f"{jwk['kid']}.json"
            if "crlVersion" in jwk and path.is_file():
                crl = json.loads(path.read_text(encoding="utf-8"))
                if not isinstance(crl, dict):
                    raise CardError(f"{path.name}: a revocation list is a JSON object")
                crls[str(jwk["kid"])] = crl
        return cls(url, published.keys, crls)


def _public(jwk: Mapping[str, Any]) -> dict[str, Any]:
    return {k: jwk[k] for k in ("kty", "crv", "x", "y") if k in jwk}


def _check_issuer_url(url: object, where: str) -> None:
    if not isinstance(url, str) or not url.startswith("https://") or url.endswith("/"):
        raise CardError(f"{where}: the issuer URL must be https and end without a slash")


def verify(
    card: str,
    issuers: Sequence[Issuer | KeySet],
    *,
    now: datetime | None = None,
) -> VerifiedCard:
    """Check a card (its JWS or its `shc:/` text) against trusted issuers: header,
    signature by a key of the issuer it names, DEFLATE payload, `nbf` and `exp` against
    `now`, revocation where the key lists revocations, and the Bundle's SMART Health Card
    rules. CardError, naming the rule, for anything else."""
    moment = now or datetime.now(UTC)
    if len(card) > MAX_CARD:
        raise CardError(f"longer than {MAX_CARD} characters: no health card is")
    token = from_qr_text(card) if card.strip().startswith(QR_PREFIX) else card.strip()
    try:
        header = json.loads(_b64url(token.split(".")[0]))
    except (ValueError, IndexError):
        raise CardError("not a compact JWS") from None
    if not isinstance(header, dict) or header.get("alg") != "ES256" or header.get("zip") != "DEF":
        raise CardError("header: alg must be ES256 and zip DEF")
    trusted, jwk = _key_for(
        header.get("kid"), [KeySet.of(i) if isinstance(i, Issuer) else i for i in issuers]
    )
    try:
        signed = jws.deserialize_compact(token, ECKey.import_key(_public(jwk)), registry=_REGISTRY)
        payload = json.loads(_inflated(signed.payload))
    except (JoseError, zlib.error, ValueError) as exc:
        raise CardError(f"signature or payload does not verify ({type(exc).__name__})") from None
    if not isinstance(payload, dict):
        raise CardError("payload: not a JSON object")
    _check_issuer_url(payload.get("iss"), "iss")
    if payload["iss"] != trusted.url:
        raise CardError("iss: not the issuer of the signing key")
    not_before = _instant(payload, "nbf")
    if not_before is None:
        raise CardError("nbf: missing")
    if not_before > moment + CLOCK_SKEW:
        raise CardError("nbf: the card is not valid yet", "not_yet_valid")
    expires = _instant(payload, "exp")
    if expires is not None and expires <= moment:
        raise CardError(f"exp: the card expired on {expires:%Y-%m-%d}", "expired")
    vc = payload.get("vc")
    if not isinstance(vc, dict):
        raise CardError("vc: missing")
    _check_revocation(vc, jwk, trusted, not_before)
    return _checked(payload, vc, not_before)


def card_payload(token: str) -> dict[str, Any]:
    """What a card says, read without checking its signature: for a holder of a card it
    knows the issuer made (the certificate center prints the one VRS sealed to it). The
    same bounded reading `verify` does; CardError where it is no card."""
    try:
        payload = json.loads(_inflated(_b64url(token.split(".")[1])))
    except (ValueError, IndexError, zlib.error):
        raise CardError("not a compact JWS of a DEFLATEd payload") from None
    if not isinstance(payload, dict):
        raise CardError("payload: not a JSON object")
    return payload


def _inflated(data: bytes) -> bytes:
    """The raw-DEFLATEd payload, refused once it passes MAX_PAYLOAD (a DEFLATE bomb)."""
    inflater = zlib.decompressobj(-15)
    payload = inflater.decompress(data, MAX_PAYLOAD)
    if inflater.unconsumed_tail or not inflater.eof:
        raise ValueError("payload: larger than a health card's or truncated")
    return payload


def _instant(payload: Mapping[str, Any], claim: str) -> datetime | None:
    value = payload.get(claim)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CardError(f"{claim}: must be a NumericDate (seconds since 1970)")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise CardError(f"{claim}: out of range") from None


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key_for(kid: object, issuers: Sequence[KeySet]) -> tuple[KeySet, dict[str, Any]]:
    for issuer in issuers:
        for jwk in issuer.keys:
            if jwk.get("kid") == kid:
                return issuer, jwk
    raise CardError("kid: not a key of a trusted issuer", "untrusted_issuer")


def _check_revocation(
    vc: Mapping[str, Any], jwk: Mapping[str, Any], issuer: KeySet, issued: datetime
) -> None:
    """Revocation as the specification says a verifier SHALL check it: a key whose entry
    names a `crlVersion` has a list of revoked `rid`s; a card whose `rid` is on it is
    refused (issued before the entry's timestamp, where the entry has one)."""
    version = jwk.get("crlVersion")
    rid = vc.get("rid")
    if rid is not None and (not isinstance(rid, str) or not _RID.fullmatch(rid)):
        raise CardError("vc.rid: must be at most 24 base64url characters")
    if version is None:
        return
    crl = issuer.crls.get(str(jwk["kid"]))
    if crl is None:
        raise CardError(
            "revocation: the key lists revocations and no revocation list was given",
            "revocation_unknown",
        )
    if crl.get("kid") != jwk["kid"] or crl.get("method") != "rid":
        raise CardError("revocation: the list is not a rid list of this key", "revocation_unknown")
    counter = crl.get("ctr")
    if not isinstance(counter, int) or not isinstance(version, int) or counter < version:
        raise CardError("revocation: the list is older than the key set", "revocation_unknown")
    rids = crl.get("rids")
    if not isinstance(rids, list):
        raise CardError("revocation: the list has no rids", "revocation_unknown")
    if rid is None:
        return
    for entry in rids:
        revoked, _, since = str(entry).partition(".")
        if revoked != rid:
            continue
        if since and not _TIMESTAMP.fullmatch(since):
            raise CardError("revocation: a rid's timestamp is not a number", "revocation_unknown")
        # rid alone: every card of that rid; rid.timestamp: those issued before it.
        if not since or issued.timestamp() < float(since):
            raise CardError("revocation: the issuer has revoked this card", "revoked")


def _checked(payload: Mapping[str, Any], vc: Mapping[str, Any], issued: datetime) -> VerifiedCard:
    types = vc.get("type")
    if not isinstance(types, list) or SHC_TYPES[0] not in types:
        raise CardError("vc.type: not a health card")
    subject = vc.get("credentialSubject")
    bundle = subject.get("fhirBundle") if isinstance(subject, dict) else None
    if (
        not isinstance(subject, dict)
        or subject.get("fhirVersion") != "4.0.1"
        or not isinstance(bundle, dict)
        or bundle.get("resourceType") != "Bundle"
        or not isinstance(bundle.get("entry"), list)
    ):
        raise CardError("credentialSubject: not a FHIR R4 Bundle")
    entries = bundle["entry"]
    resources: list[dict[str, Any]] = []
    for index, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or entry.get("fullUrl") != f"resource:{index}":
            raise CardError(f"entry {index}: fullUrl must be resource:{index}, with a resource")
        if {"id", "text"} & set(resource):
            raise CardError(f"entry {index}: a resource carries no id and no text")
        meta = resource.get("meta")
        if meta is not None and (not isinstance(meta, dict) or set(meta) != {"security"}):
            raise CardError(f"entry {index}: meta may carry security only")
        for where, reference in _references(resource, f"entry {index}"):
            found = _REFERENCE.fullmatch(reference) if isinstance(reference, str) else None
            if found is None or int(found.group(1)) >= len(entries):
                raise CardError(f"{where}: a reference must be resource:N of this bundle")
        resources.append(resource)
    patients = [r for r in resources if r.get("resourceType") == "Patient"]
    shots = tuple(r for r in resources if r.get("resourceType") == "Immunization")
    if len(patients) != 1 or not shots:
        raise CardError("fhirBundle: one Patient and at least one Immunization")
    return VerifiedCard(
        issuer=str(payload["iss"]),
        issued_at=issued,
        patient=patients[0],
        immunizations=shots,
    )


def _references(node: object, where: str) -> Iterator[tuple[str, object]]:
    """Every `reference` inside a resource, with where it is."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference":
                yield f"{where}.reference", value
            else:
                yield from _references(value, f"{where}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _references(item, f"{where}[{index}]")


def code_label(coding: Mapping[str, Any]) -> str:
    """A coding as a reader knows it: `CVX 207`, `SNOMED CT 28531000087107`, or the
    system's URL where it is none of the usual ones."""
    system = str(coding.get("system", ""))
    return f"{CODE_SYSTEMS.get(system, system or 'no system')} {coding.get('code')}"
