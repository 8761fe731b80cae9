"""SMART Health Cards as VRS issues them: the JWS, the numeric QR text, the Bundle's rules,
and every way verification refuses a card."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import zlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import segno
from joserfc import jws
from joserfc.jws import JWSRegistry
from joserfc.registry import HeaderParameter
from segno.consts import MODE_BYTE, MODE_NUMERIC

from adapters.kit.shc import (
    QR_PREFIX,
    CardError,
    Issuer,
    IssuingBody,
    KeySet,
    card_payload,
    code_label,
    from_qr_text,
    health_card,
    qr_png,
    qr_text,
    verify,
)
from adapters.kit.vaccines import CVX
from contracts.payloads import CovidDose

ISSUER = Issuer.generate("https://sesshu.example/issuer")
OTHER = Issuer.generate("https://elsewhere.example/issuer")
ISSUED = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
BODY = IssuingBody("茨城県筑西市", "Chikusei City, Ibaraki")
DOSES = [
    CovidDose(
        dose_number=2,
        vaccinated_on=date(2021, 7, 1),
        manufacturer="0002",
        lot_number="FF1234",
        product_name="Spikevax",
    ),
    CovidDose(
        dose_number=1,
        vaccinated_on=date(2021, 6, 1),
        manufacturer="0001",
        lot_number="EY5678",
        product_name="Comirnaty",
    ),
    CovidDose(
        dose_number=3,
        status="not_done",
        vaccinated_on=date(2022, 1, 1),
        manufacturer="0001",
        lot_number="EY5679",
    ),
]


def card(issuer: Issuer = ISSUER) -> str:
    return health_card(
        issuer,
        name="YAMADA TARO",
        birth_date=date(1960, 4, 1),
        doses=DOSES,
        issued_at=ISSUED,
        issuing_body=BODY,
    )


def _part(token: str, index: int) -> bytes:
    text = token.split(".")[index]
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_a_card_is_an_es256_jws_of_a_deflated_fhir_bundle() -> None:
    token = card()
    header = json.loads(_part(token, 0))
    assert header == {"alg": "ES256", "zip": "DEF", "kid": ISSUER.kid}
    payload = json.loads(zlib.decompress(_part(token, 1), -15))
    assert payload["iss"] == ISSUER.url
    assert payload["nbf"] == int(ISSUED.timestamp())
    assert payload["vc"]["type"] == ["https://smarthealth.cards#health-card"]  # no deprecated
    bundle = payload["vc"]["credentialSubject"]["fhirBundle"]
    assert payload["vc"]["credentialSubject"]["fhirVersion"] == "4.0.1"
    urls = [entry["fullUrl"] for entry in bundle["entry"]]
    assert urls == ["resource:0", "resource:1", "resource:2"]  # the dose not given is left out
    patient, first, second = (entry["resource"] for entry in bundle["entry"])
    assert patient == {
        "resourceType": "Patient",
        "name": [{"family": "YAMADA", "given": ["TARO"]}],
        "birthDate": "1960-04-01",
    }
    assert first["occurrenceDateTime"] == "2021-06-01"
    assert first["vaccineCode"]["coding"][0]["code"] == "208"  # Comirnaty
    assert second["vaccineCode"]["coding"][0]["code"] == "207"  # Spikevax
    # The IG fixes protocolApplied at 0..0 in every profile (issue 16).
    assert not any("protocolApplied" in e["resource"] for e in bundle["entry"])
    assert second["patient"] == {"reference": "resource:0"}
    # The IG's SHALL when known: who performed it, here the issuing municipality (issue 16).
    assert first["performer"] == [{"actor": {"display": "Chikusei City, Ibaraki (茨城県筑西市)"}}]
    assert not any({"id", "meta", "text"} & set(e["resource"]) for e in bundle["entry"])
    assert len(_part(token, 2)) == 64  # ES256: r || s, not DER


def test_verify_accepts_the_card_its_qr_text_and_a_published_key_set() -> None:
    token = card()
    verified = verify(token, [OTHER, ISSUER])
    assert verified.issuer == ISSUER.url
    assert verified.issued_at == ISSUED
    assert len(verified.immunizations) == 2
    assert verify(qr_text(token), [ISSUER]) == verified
    published = ISSUER.jwks()
    assert "d" not in published["keys"][0]  # the private part never leaves
    assert verify(token, [KeySet.parse(ISSUER.url, published)]) == verified


def test_the_numeric_qr_text_is_two_digits_per_character() -> None:
    assert qr_text("ey") == "shc:/5676"  # 'e' is 101 - 45, 'y' is 121 - 45
    assert qr_text("-.") == "shc:/0001"
    token = card()
    assert from_qr_text(qr_text(token)) == token
    for bad in ("shc:/123", "shc:/12a4", "http://5676"):
        with pytest.raises(CardError, match="shc:/"):
            from_qr_text(bad)


def _swap_payload(token: str, payload: dict[str, object]) -> str:
    head, _, signature = token.split(".")
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = compressor.compress(json.dumps(payload).encode()) + compressor.flush()
    return ".".join([head, base64.urlsafe_b64encode(body).rstrip(b"=").decode(), signature])


def test_verification_refuses_every_kind_of_bad_card() -> None:
    token = card()
    payload = json.loads(zlib.decompress(_part(token, 1), -15))
    forged = _swap_payload(token, payload | {"nbf": 0})
    impostor = health_card(
        Issuer(ISSUER.url, OTHER.key),
        name="X Y",
        birth_date=date(1960, 4, 1),
        doses=DOSES,
        issued_at=ISSUED,
        issuing_body=BODY,
    )
    claims_other_url = health_card(
        Issuer(OTHER.url, ISSUER.key),
        name="X Y",
        birth_date=date(1960, 4, 1),
        doses=DOSES,
        issued_at=ISSUED,
        issuing_body=BODY,
    )
    cases = {
        forged: "does not verify",
        impostor: "kid: not a key of a trusted issuer",
        claims_other_url: "iss: not the issuer",
        "not.a-card": "not a compact JWS",
        token[: len(token) // 2]: "not",
    }
    for bad, reason in cases.items():
        with pytest.raises(CardError, match=reason):
            verify(bad, [ISSUER])


def test_a_card_needs_a_dose_given_and_must_fit_one_qr_code() -> None:
    with pytest.raises(CardError, match="at least one dose"):
        health_card(
            ISSUER,
            name="X",
            birth_date=date(1960, 4, 1),
            doses=DOSES[2:],
            issued_at=ISSUED,
            issuing_body=BODY,
        )
    noise = "".join(hashlib.sha512(bytes([i])).hexdigest() for i in range(8))  # incompressible
    with pytest.raises(CardError, match="one QR holds 1195"):
        health_card(
            ISSUER,
            name=f"X {noise}",
            birth_date=date(1960, 4, 1),
            doses=DOSES,
            issued_at=ISSUED,
            issuing_body=BODY,
        )


def test_the_qr_image_uses_numeric_mode_for_the_digits(tmp_path: Path) -> None:
    token = card()
    path = qr_png(token, tmp_path / "card.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    as_bytes = segno.make(qr_text(token), mode="byte", error="l", micro=False)
    mixed = segno.make(
        [(QR_PREFIX, MODE_BYTE), (qr_text(token)[5:], MODE_NUMERIC)],  # type: ignore[arg-type]
        error="l",
        micro=False,
    )
    assert int(mixed.version) < int(as_bytes.version)
    assert int(mixed.version) <= 22


_REGISTRY = JWSRegistry(
    header_registry={"zip": HeaderParameter("compression", "str")}, algorithms=["ES256"]
)


def signed(payload: dict[str, Any], issuer: Issuer = ISSUER) -> str:
    """A payload of the test's choosing, signed by the issuer as a card is."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = compressor.compress(json.dumps(payload).encode()) + compressor.flush()
    header = {"alg": "ES256", "zip": "DEF", "kid": issuer.kid}
    return jws.serialize_compact(header, body, issuer.key, registry=_REGISTRY)


def payload_of(token: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(zlib.decompress(_part(token, 1), -15))
    return loaded


def with_resource(payload: dict[str, Any], index: int, **changes: Any) -> dict[str, Any]:
    changed = copy.deepcopy(payload)
    entry = changed["vc"]["credentialSubject"]["fhirBundle"]["entry"][index]
    entry["resource"] |= changes
    return changed


def test_a_card_is_taken_only_within_its_validity_period() -> None:
    good = payload_of(card())
    now = datetime(2026, 12, 1, tzinfo=UTC)
    expired = signed(good | {"exp": int((now - timedelta(days=1)).timestamp())})
    with pytest.raises(CardError, match="exp: the card expired on 2026-11-30") as refused:
        verify(expired, [ISSUER], now=now)
    assert refused.value.code == "expired"
    later = signed(good | {"exp": int((now + timedelta(days=1)).timestamp())})
    assert verify(later, [ISSUER], now=now).issuer == ISSUER.url
    future = signed(good | {"nbf": int((now + timedelta(hours=1)).timestamp())})
    with pytest.raises(CardError, match="nbf: the card is not valid yet") as early:
        verify(future, [ISSUER], now=now)
    assert early.value.code == "not_yet_valid"
    skewed = signed(good | {"nbf": int((now + timedelta(minutes=1)).timestamp())})
    assert verify(skewed, [ISSUER], now=now)  # an issuer's clock a minute ahead
    for claims, reason in (
        ({"nbf": None}, "nbf: missing"),
        ({"nbf": "2026-11-26"}, "nbf: must be a NumericDate"),
        ({"exp": True}, "exp: must be a NumericDate"),
        ({"exp": 10**20}, "exp: out of range"),
    ):
        with pytest.raises(CardError, match=reason):
            verify(signed({k: v for k, v in (good | claims).items() if v is not None}), [ISSUER])


def test_the_issuer_url_is_https_without_a_trailing_slash() -> None:
    good = payload_of(card())
    for url in ("http://sesshu.example/issuer", "https://sesshu.example/issuer/"):
        bad_issuer = Issuer(url, ISSUER.key)
        with pytest.raises(CardError, match="iss: the issuer URL must be https"):
            verify(signed(good | {"iss": url}, bad_issuer), [ISSUER])
        with pytest.raises(CardError, match="issuer: the issuer URL must be https"):
            KeySet.parse(url, ISSUER.jwks())


def test_references_must_be_resource_n_of_the_bundle_and_meta_only_security() -> None:
    good = payload_of(card())
    for reference in ("Patient/1", "resource:9", "resource:01", "#resource:0", 0):
        bad = with_resource(good, 1, patient={"reference": reference})
        with pytest.raises(CardError, match=r"entry 1.patient.reference: a reference must be"):
            verify(signed(bad), [ISSUER])
    nested = with_resource(good, 1, performer=[{"actor": {"reference": "Organization/1"}}])
    with pytest.raises(CardError, match=r"entry 1.performer\[0\].actor.reference"):
        verify(signed(nested), [ISSUER])
    # meta with security alone is allowed (the IG's own examples label resources so).
    labelled = with_resource(
        good,
        0,
        meta={"security": [{"system": "https://smarthealth.cards/ial", "code": "IAL1.4"}]},
    )
    assert verify(signed(labelled), [ISSUER]).patient["meta"]["security"][0]["code"] == "IAL1.4"
    for changes, reason in (
        ({"meta": {"security": [], "versionId": "1"}}, "meta may carry security only"),
        ({"meta": {"lastUpdated": "2026-01-01"}}, "meta may carry security only"),
        ({"id": "p1"}, "no id and no text"),
        ({"text": {"status": "generated"}}, "no id and no text"),
    ):
        with pytest.raises(CardError, match=reason):
            verify(signed(with_resource(good, 0, **changes)), [ISSUER])


def test_a_key_set_whose_kid_is_not_the_thumbprint_is_refused() -> None:
    published = ISSUER.jwks()
    key = published["keys"][0]
    for bad, reason in (
        (key | {"kid": "my-key-1"}, "kid is not the key's thumbprint"),
        (key | {"kid": OTHER.kid}, "kid is not the key's thumbprint"),
        (key | {"crv": "P-384"}, "not an EC P-256 key"),
        (key | {"x": "AAAA"}, "not a valid public key"),
        (
            dict(ISSUER.key.as_dict(private=True)) | {"kid": ISSUER.kid},
            "a published key set holds no private key",
        ),
    ):
        with pytest.raises(CardError, match=rf"jwks.keys\[0\]: {reason}"):
            KeySet.parse(ISSUER.url, {"keys": [bad]})
    with pytest.raises(CardError, match="jwks: no keys"):
        KeySet.parse(ISSUER.url, {"keys": []})


def test_a_card_names_no_vaccine_it_cannot_code() -> None:
    unknown = DOSES[1].model_copy(update={"product_name": "ダイチロナ筋注"})
    with pytest.raises(CardError, match="dose 1: product_name: not a COVID-19") as refused:
        health_card(
            ISSUER,
            name="X Y",
            birth_date=date(1960, 4, 1),
            doses=[unknown],
            issued_at=ISSUED,
            issuing_body=BODY,
        )
    assert refused.value.code == "unknown_product"
    japanese = DOSES[1].model_copy(update={"product_name": "コミナティ筋注"})
    token = health_card(
        ISSUER,
        name="X Y",
        birth_date=date(1960, 4, 1),
        doses=[japanese],
        issued_at=ISSUED,
        issuing_body=BODY,
    )
    (shot,) = verify(token, [ISSUER]).immunizations
    assert shot["vaccineCode"] == {"coding": [{"system": CVX, "code": "208"}]}


def test_codes_are_labelled_by_their_system() -> None:
    assert code_label({"system": CVX, "code": "208"}) == "CVX 208"
    assert code_label({"system": "http://snomed.info/sct", "code": "1119349007"}) == (
        "SNOMED CT 1119349007"
    )
    assert code_label({"system": "http://id.who.int/icd/release/11/mms", "code": "XM8NQ0"}) == (
        "ICD-11 XM8NQ0"
    )
    assert code_label({"system": "https://example.jp/codes", "code": "A1"}) == (
        "https://example.jp/codes A1"
    )


def test_a_key_is_for_es256_signatures_only() -> None:
    key = ISSUER.jwks()["keys"][0]
    for changes in ({"use": "enc"}, {"alg": "ECDH-ES"}, {"use": None}):
        bad = {k: v for k, v in (key | changes).items() if v is not None}
        with pytest.raises(CardError, match=r'must be use "sig" and alg "ES256"'):
            KeySet.parse(ISSUER.url, {"keys": [bad]})


def test_no_card_is_longer_or_inflates_larger_than_a_health_card() -> None:
    with pytest.raises(CardError, match="longer than 65536 characters"):
        verify("e" * 70_000, [ISSUER])
    bomb = payload_of(card()) | {"padding": "0" * (2 * 1024 * 1024)}  # 2 MiB, deflates small
    with pytest.raises(CardError, match=r"does not verify \(ValueError\)"):
        verify(signed(bomb), [ISSUER])


def _revoking(crl: dict[str, Any]) -> KeySet:
    """Our issuer's key set with revocations (crlVersion 2) and this list for its key."""
    key = ISSUER.jwks()["keys"][0] | {"crlVersion": 2}
    return KeySet.parse(ISSUER.url, {"keys": [key]}, {ISSUER.kid: crl})


def test_a_rid_on_the_list_revokes_the_cards_issued_before_its_timestamp() -> None:
    good = payload_of(card())
    token = signed(good | {"vc": good["vc"] | {"rid": "r1d-of-a-card"}})
    base = {"kid": ISSUER.kid, "method": "rid", "ctr": 2}
    nbf = good["nbf"]
    for rids, revoked in (
        (["r1d-of-a-card"], True),  # every card of the rid
        ([f"r1d-of-a-card.{nbf + 1}"], True),  # issued before the revocation took effect
        ([f"r1d-of-a-card.{nbf}"], False),  # issued at it: not revoked
        ([f"r1d-of-a-card.{nbf - 60}"], False),  # re-issued after it
        (["another-rid"], False),
        ([], False),
    ):
        keys = _revoking(base | {"rids": rids})
        if revoked:
            with pytest.raises(CardError, match="the issuer has revoked this card") as refused:
                verify(token, [keys])
            assert refused.value.code == "revoked"
        else:
            assert verify(token, [keys]).issuer == ISSUER.url, rids
    # A list that cannot be read fails closed: never taken as "not revoked".
    for crl, reason in (
        (base | {"rids": ["r1d-of-a-card.nan"]}, "timestamp is not a number"),
        (base | {"rids": ["r1d-of-a-card.1e9"]}, "timestamp is not a number"),
        (base | {"ctr": "2", "rids": []}, "older than the key set"),
        (base | {"ctr": 1, "rids": []}, "older than the key set"),
        ({k: v for k, v in base.items() if k != "ctr"} | {"rids": []}, "older than the key set"),
        (base | {"rids": "r1d-of-a-card"}, "the list has no rids"),
    ):
        with pytest.raises(CardError, match=reason):
            verify(token, [_revoking(crl)])


def test_revocation_lists_are_read_only_for_checked_keys(tmp_path: Path) -> None:
    key = ISSUER.jwks()["keys"][0] | {"crlVersion": 1}
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [key | {"kid": "../../etc/passwd"}]}))
    with pytest.raises(CardError, match="kid is not the key's thumbprint"):
        KeySet.load(ISSUER.url, jwks)
    jwks.write_text(json.dumps({"keys": [key]}))
    (tmp_path / "crl").mkdir()
    (tmp_path / "crl" / f"{ISSUER.kid}.json").write_text("[1, 2]")
    with pytest.raises(CardError, match="a revocation list is a JSON object"):
        KeySet.load(ISSUER.url, jwks)


def test_a_dose_another_city_gave_names_no_performer() -> None:
    """The performer SHALL be given when known: a dose taken in on a transfer was given by
    a former city the records do not name, so the card names none for it."""
    token = health_card(
        ISSUER,
        name="X Y",
        birth_date=date(1960, 4, 1),
        doses=DOSES,
        issued_at=ISSUED,
        issuing_body=BODY,
        given_elsewhere={1},
    )
    first, second = verify(token, [ISSUER]).immunizations  # dose 1, then dose 2
    assert "performer" not in first
    assert second["performer"] == [{"actor": {"display": BODY.display}}]


def test_reading_a_card_unverified_is_as_bounded_as_verifying_it() -> None:
    """The certificate center prints the card VRS sealed to it without checking the
    signature again; it still reads no more than a health card's payload."""
    assert card_payload(card())["iss"] == ISSUER.url
    bomb = payload_of(card()) | {"padding": "0" * (2 * 1024 * 1024)}
    for bad in (signed(bomb), "not-a-jws", "a.!!!.c", signed(payload_of(card()))[:40]):
        with pytest.raises(CardError, match="not a compact JWS of a DEFLATEd payload"):
            card_payload(bad)
