"""Payload models: every kind's example round-trips, and bad payloads are rejected quietly.

"Quietly" means the error names the field and the rule, never the value: the payloads carry
My Numbers, names, addresses and birth dates (hide_input_in_errors, masked reprs).
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any, get_args

import pytest
from pydantic import ConfigDict, TypeAdapter, ValidationError

from contracts.codes import fiscal_year
from contracts.examples import EXAMPLE_KINDS, PERSONAL_VALUES, example_payload
from contracts.payloads import (
    PAYLOAD_BY_KIND,
    AnyPayload,
    CertificateApplication,
    MessageKind,
    Part,
    Payload,
    TransferOutProvision,
    VaccinationRecord,
)

# Without hide_input_in_errors on the adapter, a failure of the union itself (and the
# union's wrapper around a member's error) prints the input: a part of the payload's
# first and last characters, which can be a passport number.
ANY_PAYLOAD = TypeAdapter(AnyPayload, config=ConfigDict(hide_input_in_errors=True))
DELETE = object()
"""Marks a key to remove in a mutation table."""
FUTURE = (date.today() + timedelta(days=400)).isoformat()  # noqa: DTZ011 - date-only margin
MY_NUMBER = "123456789018"


def example_document(kind: str) -> dict[str, Any]:
    """The example of `kind` as its wire JSON value."""
    document: dict[str, Any] = json.loads(example_payload(kind).model_dump_json())
    return document


def mutate(document: dict[str, Any], changes: dict[str, object]) -> dict[str, Any]:
    """Apply `{dotted.path: value}` (or DELETE) to a copy of a JSON document."""
    result: dict[str, Any] = json.loads(json.dumps(document))
    for path, value in changes.items():
        *parents, last = path.split(".")
        node: Any = result
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if value is DELETE:
            del node[last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return result


def dotted(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as a dotted path."""
    return ".".join(str(part) for part in loc)


def string_values(value: object) -> list[str]:
    """Every string nested in a mutation value, so the test can look for it in an error."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [s for item in value for s in string_values(item)]
    if isinstance(value, dict):
        return [s for item in value.values() for s in string_values(item)]
    return []


def every_part_model() -> list[type[Part]]:
    """Every model class below `Part`, payloads and the parts inside them."""
    found: list[type[Part]] = []
    pending = list(Part.__subclasses__())
    while pending:
        model = pending.pop()
        found.append(model)
        pending.extend(model.__subclasses__())
    return sorted(found, key=lambda m: m.__name__)


# --- examples and round trips ------------------------------------------------------------


def test_every_kind_has_exactly_one_example() -> None:
    assert sorted(EXAMPLE_KINDS) == sorted(PAYLOAD_BY_KIND)
    assert len(EXAMPLE_KINDS) == len(set(EXAMPLE_KINDS)) == 22


def test_message_kind_literal_matches_the_payload_models() -> None:
    assert set(get_args(MessageKind)) == set(PAYLOAD_BY_KIND)
    for kind, model in PAYLOAD_BY_KIND.items():
        assert model.model_fields["kind"].default == kind


@pytest.mark.parametrize("model", every_part_model(), ids=lambda m: m.__name__)
def test_every_payload_model_has_a_one_line_docstring(model: type[Part]) -> None:
    doc = model.__doc__
    assert doc, f"{model.__name__} has no docstring"
    assert doc == doc.strip()
    assert "\n" not in doc


@pytest.mark.parametrize("kind", EXAMPLE_KINDS)
def test_example_round_trips_through_its_model(kind: str) -> None:
    payload = example_payload(kind)
    model = type(payload)
    assert PAYLOAD_BY_KIND[kind] is model
    assert payload.kind == kind
    dumped = payload.model_dump_json()
    again = model.model_validate_json(dumped)
    assert again == payload
    assert again.model_dump_json() == dumped
    assert PAYLOAD_BY_KIND[kind].model_validate_json(dumped) == payload
    assert model.model_validate(payload.model_dump()) == payload  # Python mode as well
    assert model.model_validate(json.loads(dumped)) == payload  # a decoded JSON document


@pytest.mark.parametrize("kind", EXAMPLE_KINDS)
def test_example_round_trips_through_the_union(kind: str) -> None:
    payload = example_payload(kind)
    dumped = payload.model_dump_json()
    parsed = ANY_PAYLOAD.validate_json(dumped)
    assert type(parsed) is type(payload)
    assert parsed == payload
    assert ANY_PAYLOAD.dump_json(parsed).decode() == dumped
    assert ANY_PAYLOAD.validate_python(json.loads(dumped)) == payload


def test_every_personal_value_is_really_used_by_some_example() -> None:
    # Otherwise the redaction tests below would pass without checking anything.
    dumps = "".join(example_payload(kind).model_dump_json() for kind in EXAMPLE_KINDS)
    for value in PERSONAL_VALUES:
        assert value in dumps
    assert MY_NUMBER in PERSONAL_VALUES


def personal_forms() -> list[str]:
    """Each personal value, plus the `repr()` of those that are dates (birth dates)."""
    forms = list(PERSONAL_VALUES)
    for value in PERSONAL_VALUES:
        try:
            forms.append(repr(date.fromisoformat(value)))
        except ValueError:
            continue
    return forms


@pytest.mark.parametrize("kind", EXAMPLE_KINDS)
def test_repr_shows_no_personal_value(kind: str) -> None:
    payload = example_payload(kind)
    for text in (repr(payload), str(payload)):
        for value in personal_forms():
            assert value not in text


# --- valid variants: the rules do not reject what the domain allows -----------------------

VALID_VARIANTS: list[Any] = [
    pytest.param(
        "vaccination_record",
        {
            "unsuitable_reason": "fever",
            "lot_number": None,
            "route": None,
            "dose_volume_ml": None,
            "site": None,
        },
        id="record-unsuitable-not-done",
    ),
    pytest.param(
        "vaccination_record",
        {"administered_on": "2025-03-31", "fiscal_year": 2024, "vaccine_expiry": None},
        id="record-fiscal-year-ends-in-march",
    ),
    pytest.param(
        "vaccination_record",
        {"disease_history": "had_disease", "illness_date": "2019-02-01"},
        id="record-had-disease",
    ),
    pytest.param("vaccination_record", {"vaccine_expiry": "2025-10-19"}, id="record-expired"),
    pytest.param(
        "certificate_application",
        {
            "channel": "counter",
            "my_number_source": "typed",
            "card_signature": None,
            "pin_verified": False,
            "identity_check": {
                "document": "driving_licence",
                "checked_at": "2026-12-04T09:00:00.000000Z",
                "checked_by": "staff.madoguchi.01",
            },
        },
        id="certificate-counter-typed",
    ),
    pytest.param(
        "certificate_application",
        {"channel": "kiosk", "use": "domestic", "passport": None},
        id="certificate-kiosk-domestic",
    ),
    pytest.param(
        "transfer_out_provision", {"status": "no_record", "doses": []}, id="transfer-no-record"
    ),
    pytest.param("dose_record", {"ticket_ocr": None}, id="dose-without-ocr"),
    pytest.param(
        "target_registration",
        {"purpose": None, "targets.0.my_number": None, "targets.1.my_number": None},
        id="targets-without-my-number",
    ),
]


@pytest.mark.parametrize(("kind", "changes"), VALID_VARIANTS)
def test_valid_variant_is_accepted(kind: str, changes: dict[str, object]) -> None:
    document = mutate(example_document(kind), changes)
    payload = PAYLOAD_BY_KIND[kind].model_validate_json(json.dumps(document))
    assert json.loads(payload.model_dump_json()) == document


def test_expired_vaccine_is_an_alert_not_an_error() -> None:
    record = example_payload("vaccination_record")
    assert isinstance(record, VaccinationRecord)
    assert not record.expired_vaccine_administered
    document = mutate(example_document("vaccination_record"), {"vaccine_expiry": "2025-10-19"})
    assert VaccinationRecord.model_validate_json(json.dumps(document)).expired_vaccine_administered


# --- invalid payloads ---------------------------------------------------------------------


def case(kind: str, changes: dict[str, object], loc: str, message: str, name: str) -> Any:
    """One invalid example: the changes, the error location ("" = model) and message part."""
    return pytest.param(kind, changes, loc, message, id=f"{kind}-{name}")


LONG_REMARKS = "接種後の経過観察を行った。" * 16  # 208 characters

INVALID_CASES: list[Any] = [
    # vaccination_record cases: the 27 items of 別添1 (domain.md 3.1)
    case("vaccination_record", {"fiscal_year": 2024}, "", "fiscal year", "fiscal-year-mismatch"),
    case(
        "vaccination_record",
        {"administered_on": "2025-04-01", "fiscal_year": 2024},
        "",
        "fiscal year",
        "fiscal-year-april-boundary",
    ),
    case("vaccination_record", {"fiscal_year": 1899}, "fiscal_year", "greater", "fy-too-early"),
    case(
        "vaccination_record",
        {"administered_on": FUTURE, "fiscal_year": fiscal_year(date.fromisoformat(FUTURE))},
        "",
        "administered_on must not be in the future",
        "future-date",
    ),
    case(
        "vaccination_record",
        {"administered_on": "2025/10/20"},
        "administered_on",
        "YYYY-MM-DD",
        "date-slashes",
    ),
    case(
        "vaccination_record",
        {"administered_on": "2025-10-20T00:00:00"},
        "administered_on",
        "YYYY-MM-DD",
        "date-with-time",
    ),
    case("vaccination_record", {"administered_on": "2025-02-29"}, "administered_on", "", "feb29"),
    case("vaccination_record", {"basic_code": "10002345a7"}, "basic_code", "基本コード", "basic"),
    case("vaccination_record", {"basic_code": ""}, "basic_code", "基本コード", "basic-empty"),
    case("vaccination_record", {"vaccine_type": "SMALLPOX"}, "vaccine_type", "", "vaccine-type"),
    case("vaccination_record", {"dose_number": 0}, "dose_number", "greater", "dose-number-0"),
    case("vaccination_record", {"dose_number": 21}, "dose_number", "less", "dose-number-21"),
    case("vaccination_record", {"dose_number": 1.5}, "dose_number", "integer", "dose-fraction"),
    case("vaccination_record", {"dose_stage": 0}, "dose_stage", "greater", "dose-stage-0"),
    case(
        "vaccination_record",
        {"screening_physician": "d0012"},
        "screening_physician",
        "pattern",
        "physician-lower-case",
    ),
    case("vaccination_record", {"venue": ""}, "venue", "pattern", "venue-empty"),
    case(
        "vaccination_record",
        {"medical_institution": "4811234567"},
        "medical_institution",
        "prefecture",
        "institution-prefecture-48",
    ),
    case(
        "vaccination_record",
        {"medical_institution": "0821234567"},
        "medical_institution",
        "fee table",
        "institution-fee-table",
    ),
    case(
        "vaccination_record",
        {"medical_institution": "081123456"},
        "medical_institution",
        "10 ASCII digits",
        "institution-9-digits",
    ),
    case(
        "vaccination_record",
        {"medical_institution": "０８１１２３４５６７"},
        "medical_institution",
        "10 ASCII digits",
        "institution-full-width",
    ),
    case("vaccination_record", {"category": "mandatory"}, "category", "", "category"),
    case(
        "vaccination_record",
        {"unsuitable_reason": "fever"},
        "",
        "must be empty when unsuitable",
        "unsuitable-with-lot",
    ),
    case(
        "vaccination_record",
        {"unsuitable_reason": "headache", "lot_number": None, "route": None},
        "unsuitable_reason",
        "",
        "unsuitable-unknown-reason",
    ),
    case(
        "vaccination_record",
        {"lot_number": None},
        "",
        "required when given",
        "given-without-lot",
    ),
    case(
        "vaccination_record",
        {"route": DELETE},
        "",
        "required when given",
        "given-without-route",
    ),
    case("vaccination_record", {"certificate_issued": "yes"}, "certificate_issued", "", "cert"),
    case("vaccination_record", {"dose_volume_ml": "0"}, "dose_volume_ml", "greater", "volume-0"),
    case("vaccination_record", {"dose_volume_ml": "10.5"}, "dose_volume_ml", "less", "volume-big"),
    case(
        "vaccination_record",
        {"dose_volume_ml": "0.50"},
        "dose_volume_ml",
        "plain notation",
        "volume-trailing-zero",
    ),
    case("vaccination_record", {"dose_volume_ml": 0.5}, "dose_volume_ml", "string", "volume-float"),
    case("vaccination_record", {"site": "left_ear"}, "site", "", "site"),
    case("vaccination_record", {"route": "nasal"}, "route", "", "route"),
    case("vaccination_record", {"manufacturer": "kmb"}, "manufacturer", "pattern", "maker"),
    case("vaccination_record", {"product_name": "名" * 61}, "product_name", "at most", "product"),
    case("vaccination_record", {"lot_number": "fl251-0042"}, "lot_number", "ロットNO", "lot-lc"),
    case("vaccination_record", {"lot_number": "FL251 0042"}, "lot_number", "ロットNO", "lot-sp"),
    case("vaccination_record", {"lot_number": "F" * 21}, "lot_number", "ロットNO", "lot-long"),
    case("vaccination_record", {"lot_number": ""}, "lot_number", "ロットNO", "lot-empty"),
    case("vaccination_record", {"vaccine_expiry": "2026-6-30"}, "vaccine_expiry", "", "expiry"),
    case(
        "vaccination_record",
        {"disease_history": "had_disease"},
        "",
        "illness_date is required",
        "disease-without-date",
    ),
    case(
        "vaccination_record",
        {"illness_date": "2019-02-01"},
        "",
        "illness_date is required",
        "illness-date-without-disease",
    ),
    case(
        "vaccination_record",
        {"disease_history": "had_disease", "illness_date": FUTURE},
        "",
        "illness_date must not be in the future",
        "illness-in-future",
    ),
    case("vaccination_record", {"subsidy_category": "half"}, "subsidy_category", "", "subsidy"),
    case("vaccination_record", {"subsidy_date": "20251020"}, "subsidy_date", "", "subsidy-date"),
    case(
        "vaccination_record",
        {"subsidy_amount_jpy": -1},
        "subsidy_amount_jpy",
        "greater",
        "subsidy-negative",
    ),
    case("vaccination_record", {"billing_month": "202513"}, "billing_month", "pattern", "month"),
    case("vaccination_record", {"billing_month": "2025-11"}, "billing_month", "pattern", "ym"),
    case("vaccination_record", {"remarks": LONG_REMARKS}, "remarks", "at most 200", "remarks"),
    case("vaccination_record", {"other_municipality": "yes"}, "other_municipality", "", "other"),
    case("vaccination_record", {"phone": "0296-OO-1234"}, "phone", "PhoneNumber", "phone"),
    case("vaccination_record", {"kind": "dose_record"}, "kind", "", "wrong-kind"),
    # fukuhon_registration cases
    case("fukuhon_registration", {"person": "2000-012345"}, "person", "宛名番号", "person"),
    case("fukuhon_registration", {"data_item": "Vaccination"}, "data_item", "dotted", "item"),
    case("fukuhon_registration", {"operation": "replace"}, "operation", "", "operation"),
    case(
        "fukuhon_registration",
        {"history.1.lot_number": "kt2208-a"},
        "history.1.lot_number",
        "ロットNO",
        "history-lot",
    ),
    case(
        "fukuhon_registration",
        {"history.0.name": "下館 花子"},
        "history.0.name",
        "Extra inputs",
        "history-carries-a-name",
    ),
    # target_registration cases
    case("target_registration", {"targets": []}, "targets", "at least 1", "no-targets"),
    case("target_registration", {"purpose": "statistics"}, "purpose", "", "purpose-r21"),
    case(
        "target_registration",
        {"targets.0.my_number": "123456789019"},
        "targets.0.my_number",
        "check digit",
        "my-number-check-digit",
    ),
    case(
        "target_registration",
        {"targets.0.my_number": 123456789018},
        "targets.0.my_number",
        "string",
        "my-number-as-integer",
    ),
    case(
        "target_registration",
        {"targets.1.ticket_number": "123456"},
        "targets.1.ticket_number",
        "接種券番号",
        "ticket-number",
    ),
    case("target_registration", {"targets.0.sex": 3}, "targets.0.sex", "", "sex-iso5218"),
    case(
        "target_registration",
        {"targets.0.birth_date": "1951-02-30"},
        "targets.0.birth_date",
        "",
        "birth-date",
    ),
    case(
        "target_registration",
        {"targets.0.name": " 下館 花子"},
        "targets.0.name",
        "outer spaces",
        "name-outer-space",
    ),
    case(
        "target_registration",
        {"targets.1.address": "茨" * 201},
        "targets.1.address",
        "1 to 200",
        "address-too-long",
    ),
    case(
        "target_registration",
        {"targets.0.name": DELETE},
        "targets.0.name",
        "required",
        "name-missing",
    ),
    # dose_record cases: ticket OCR line = type 1 + dose 1 + municipality 6 + ticket 10
    case(
        "dose_record",
        {"ticket_ocr": "180822700000123456"},
        "",
        "local-government code check digit",
        "ocr-municipality-check-digit",
    ),
    case(
        "dose_record",
        {"ticket_ocr": "180822790000123457"},
        "",
        "digits 9-18 must equal ticket_number",
        "ocr-other-ticket",
    ),
    case("dose_record", {"ticket_ocr": "18082279000012345"}, "ticket_ocr", "pattern", "ocr-17"),
    case("dose_record", {"vaccinated_on": FUTURE}, "", "must not be in the future", "future"),
    case("dose_record", {"lot_number": "lp4810"}, "lot_number", "ロットNO", "lot"),
    case("dose_record", {"product_name": ""}, "product_name", "at least 1", "no-product"),
    # vaccination_export cases (F13): never a My Number (R22)
    case(
        "vaccination_export",
        {"rows.1.basic_code": MY_NUMBER},
        "",
        "rows[1].basic_code passes the My Number check digit (R22)",
        "basic-code-is-a-my-number",
    ),
    case(
        "vaccination_export",
        {"rows.0.dose.lot_number": MY_NUMBER},
        "",
        "rows[0].dose.lot_number passes the My Number check digit (R22)",
        "lot-number-is-a-my-number",
    ),
    case(
        "vaccination_export",
        {"rows.0.my_number": MY_NUMBER},
        "rows.0.my_number",
        "Extra inputs",
        "row-with-my-number-field",
    ),
    case("vaccination_export", {"rows": []}, "rows", "at least 1", "no-rows"),
    case(
        "vaccination_export",
        {"rows.0.dose.status": "cancelled"},
        "rows.0.dose.status",
        "",
        "dose-status",
    ),
    case("vaccination_export", {"batch_id": "not-a-uuid"}, "batch_id", "UUID", "batch-id"),
    # transfer_in_inquiry cases (F14)
    case(
        "transfer_in_inquiry",
        {"my_number": "123456789010"},
        "my_number",
        "check digit",
        "my-number-check-digit",
    ),
    case(
        "transfer_in_inquiry",
        {"my_number": "１２３４５６７８９０１８"},
        "my_number",
        "12 ASCII digits",
        "my-number-full-width",
    ),
    case(
        "transfer_in_inquiry",
        {"former_municipality": "082070"},
        "former_municipality",
        "check digit",
        "municipality-check-digit",
    ),
    case(
        "transfer_in_inquiry",
        {"former_municipality": "08207"},
        "former_municipality",
        "6 ASCII digits",
        "municipality-5-digits",
    ),
    case("transfer_in_inquiry", {"purpose": "certificate"}, "purpose", "", "purpose-r21"),
    case(
        "transfer_in_inquiry",
        {"register_confirmed": DELETE},
        "register_confirmed",
        "required",
        "register-confirmed-missing",
    ),
    case(
        "transfer_in_inquiry",
        {"identity_check.checked_at": "2025-10-01T00:30:00Z"},
        "identity_check.checked_at",
        "ffffff",
        "checked-at-wire-form",
    ),
    case(
        "transfer_in_inquiry",
        {"inquiry_id": "0192F0A1-3C00-7A10-8000-000000000001"},
        "inquiry_id",
        "lower-case",
        "inquiry-id-upper-case",
    ),
    # transfer_out_provision cases (F15)
    case(
        "transfer_out_provision",
        {"status": "no_record"},
        "",
        "doses must be present exactly when status=provided",
        "no-record-with-doses",
    ),
    case(
        "transfer_out_provision",
        {"doses": []},
        "",
        "doses must be present exactly when status=provided",
        "provided-without-doses",
    ),
    case("transfer_out_provision", {"my_number": DELETE}, "my_number", "required", "no-number"),
    case("transfer_out_provision", {"purpose": "certificate"}, "purpose", "", "purpose-r21"),
    case(
        "transfer_out_provision",
        {"doses.0.lot_number": "hh7391"},
        "doses.0.lot_number",
        "ロットNO",
        "dose-lot",
    ),
    # resident_status_flag cases (F16): no My Number (R21)
    case("resident_status_flag", {"flag": "emigrated"}, "flag", "", "flag"),
    case("resident_status_flag", {"basic_code": "ABC"}, "basic_code", "基本コード", "basic"),
    case(
        "resident_status_flag",
        {"my_number": MY_NUMBER},
        "my_number",
        "Extra inputs",
        "carries-a-my-number",
    ),
    # certificate_application cases (F17-F19)
    case(
        "certificate_application",
        {"my_number_source": "typed"},
        "",
        "card_chip for app and kiosk (R08)",
        "app-typed-my-number",
    ),
    case(
        "certificate_application",
        {"channel": "kiosk", "my_number_source": "typed"},
        "",
        "card_chip for app and kiosk (R08)",
        "kiosk-typed-my-number",
    ),
    case(
        "certificate_application",
        {"card_signature": None},
        "",
        "card_signature and pin_verified are required (R06)",
        "app-without-card-signature",
    ),
    case(
        "certificate_application",
        {"channel": "kiosk", "pin_verified": False},
        "",
        "card_signature and pin_verified are required (R06)",
        "kiosk-without-pin",
    ),
    case(
        "certificate_application",
        {"passport": None},
        "",
        "passport is required",
        "overseas-without-passport",
    ),
    case(
        "certificate_application",
        {"channel": "counter", "my_number_source": "typed", "card_signature": None},
        "",
        "identity_check is required at the counter (F17)",
        "counter-without-id-check",
    ),
    case(
        "certificate_application",
        {
            "identity_check": {
                "document": "passport",
                "checked_at": "2026-12-04T09:00:00.000000Z",
                "checked_by": "staff.a",
            }
        },
        "",
        "and only there",
        "app-with-id-check",
    ),
    case(
        "certificate_application",
        {
            "channel": "counter",
            "identity_check": {
                "document": "library_card",
                "checked_at": "2026-12-04T09:00:00.000000Z",
                "checked_by": "staff.a",
            },
        },
        "identity_check.document",
        "Input should be",
        "counter-unknown-id-document",
    ),
    case(
        "certificate_application",
        {"passport.passport_number": "TZ12345"},
        "passport",
        "two letters and seven digits",
        "japanese-passport-7-chars",
    ),
    case(
        "certificate_application",
        {"passport.passport_number": "T00012345"},
        "passport",
        "two letters and seven digits",
        "japanese-passport-one-letter",
    ),
    case(
        "certificate_application",
        {"passport.romanized_name": "Shimodate Hanako"},
        "passport.romanized_name",
        "pattern",
        "romanized-lower-case",
    ),
    case(
        "certificate_application",
        {"passport.nationality": "JP"},
        "passport.nationality",
        "pattern",
        "nationality-alpha-2",
    ),
    case(
        "certificate_application",
        {"card_signature.algorithm": "HS256"},
        "card_signature.algorithm",
        "",
        "signature-algorithm",
    ),
    case(
        "certificate_application",
        {"card_signature.value": "too-short"},
        "card_signature.value",
        "pattern",
        "signature-value",
    ),
    case("certificate_application", {"channel": "post"}, "channel", "", "channel"),
    case("certificate_application", {"sex": 0}, "sex", "", "sex"),
    case("certificate_application", {"birth_date": "1951-6-23"}, "birth_date", "", "birth-date"),
    case("certificate_application", {"name": ""}, "name", "1 to 100", "empty-name"),
    case("certificate_application", {"purpose": "transfer_in_inquiry"}, "purpose", "", "purpose"),
    case(
        "certificate_application",
        {"my_number": "12345678901"},
        "my_number",
        "12 ASCII digits",
        "my-number-11-digits",
    ),
    # certificate_issued cases
    case("certificate_issued", {"jws": "not-a-compact-jws"}, "jws", "pattern", "jws"),
    case("certificate_issued", {"certificate_id": "CERT-1"}, "certificate_id", "pattern", "id"),
    case("certificate_issued", {"format": "vds_nc"}, "format", "", "format"),
    case("certificate_issued", {"issued_on": None}, "issued_on", "", "no-issue-date"),
    # inquiry_request cases (F6/F7)
    case("inquiry_request", {"inquirer": "08227"}, "inquirer", "6 ASCII digits", "inquirer"),
    case("inquiry_request", {"provider": "082075"}, "provider", "check digit", "provider"),
    case("inquiry_request", {"permit_id": "permit-1"}, "permit_id", "UUID", "permit-id"),
    case("inquiry_request", {"inquiry_id": DELETE}, "inquiry_id", "required", "no-inquiry-id"),
    # provision_permit cases (F6)
    case(
        "provision_permit",
        {"expires_at": "2025-10-02T00:59:59.000000Z"},
        "",
        "expires_at must be after issued_at",
        "expires-before-issued",
    ),
    case(
        "provision_permit",
        {"expires_at": "2025-10-02T01:00:00.000000Z"},
        "",
        "expires_at must be after issued_at",
        "expires-when-issued",
    ),
    case(
        "provision_permit",
        {"issued_at": "2025-10-02T10:00:00.000000+09:00"},
        "issued_at",
        "UTC",
        "issued-at-not-utc-form",
    ),
    case("provision_permit", {"route": ["nws"]}, "route", "at least 2", "route-one-hop"),
    case("provision_permit", {"route": ["intermediate", "mars"]}, "route.1", "", "route-system"),
    case("provision_permit", {"list_version": "3F9A0C1E"}, "list_version", "pattern", "version"),
    # provision_response cases (F7)
    case("provision_response", {"status": "partial"}, "status", "", "status"),
    case("provision_response", {"permit_id": DELETE}, "permit_id", "required", "no-permit"),
    case(
        "provision_response",
        {"history.0.dose_number": 0},
        "history.0.dose_number",
        "greater",
        "history-dose-0",
    ),
    # inquiry_result cases (F6)
    case("inquiry_result", {"status": "unknown"}, "status", "", "status"),
    case("inquiry_result", {"delete_after": DELETE}, "delete_after", "required", "no-delete"),
    case("inquiry_result", {"person": "ABC"}, "person", "宛名番号", "person"),
    # provision_record cases (R47)
    case("provision_record", {"role": "observer"}, "role", "", "role"),
    case(
        "provision_record",
        {"retention_until": "2032-10-02T00:00:00.000000Z"},
        "retention_until",
        "YYYY-MM-DD",
        "retention-as-datetime",
    ),
    case(
        "provision_record", {"nondisclosure": "maybe"}, "nondisclosure", "boolean", "nondisclosure"
    ),
    # permitted_list_update cases (F8)
    case("permitted_list_update", {"rows": []}, "rows", "at least 1", "no-rows"),
    case(
        "permitted_list_update",
        {"rows.0.procedure": "B3-16"},
        "rows.0.procedure",
        "B1-<item>",
        "procedure",
    ),
    case(
        "permitted_list_update",
        {"rows.0.retention_days": 0},
        "rows.0.retention_days",
        "greater",
        "retention-0",
    ),
    case(
        "permitted_list_update",
        {"rows.1.inquirer": "082075"},
        "rows.1.inquirer",
        "check digit",
        "inquirer",
    ),
    case(
        "permitted_list_update",
        {"rows.1.direction": "sideways"},
        "rows.1.direction",
        "",
        "direction",
    ),
    # linkage_registration cases (F5)
    case(
        "linkage_registration",
        {"code": MY_NUMBER},
        "code",
        "符号",
        "code-is-a-my-number",
    ),
    case("linkage_registration", {"resident_code": "4071829356"}, "resident_code", "11", "short"),
    case(
        "linkage_registration",
        {"resident_code": "４０７１８２９３５６０"},
        "resident_code",
        "ASCII",
        "full-width",
    ),
    case("linkage_registration", {"code": DELETE}, "code", "required", "no-code"),
    # self_information_request cases (F9)
    case(
        "self_information_request",
        {"person": MY_NUMBER},
        "person",
        "符号",
        "person-is-a-my-number",
    ),
    case("self_information_request", {"person": "QZ7K2M9X4T1B8W6"}, "person", "符号", "short"),
    case("self_information_request", {"request_id": DELETE}, "request_id", "required", "no-id"),
    # resident_notice cases (F10)
    case("resident_notice", {"notice_type": "advert"}, "notice_type", "", "notice-type"),
    case("resident_notice", {"in_reply_to": "123"}, "in_reply_to", "UUID", "in-reply-to"),
    # A 符号 or, from health management to its own server, a person number: neither fits.
    case(
        "resident_notice",
        {"person": "QZ7K-2M9X-4T1B-8W6R"},
        "person.function-after[LinkageCode(), str]",
        "符号",
        "person",
    ),
    # approval_attestation cases (R37)
    case(
        "approval_attestation",
        {"content_sha256": "B" * 64},
        "content_sha256",
        "pattern",
        "sha256-upper-case",
    ),
    case("approval_attestation", {"approver": "Chief Kenko"}, "approver", "pattern", "approver"),
    case("approval_attestation", {"comment": "承" * 501}, "comment", "at most 500", "comment"),
    case(
        "approval_attestation",
        {"decided_at": "2025-10-03T02:15:00.000000"},
        "decided_at",
        "UTC",
        "decided-at-naive",
    ),
    # rejection_notice cases
    case("rejection_notice", {"reason": ""}, "reason", "at least 1", "empty-reason"),
    case("rejection_notice", {"reason": "理" * 201}, "reason", "at most 200", "long-reason"),
    case(
        "rejection_notice",
        {"reason_code": "Purpose-Missing"},
        "reason_code",
        "pattern",
        "reason-code",
    ),
    # delivery_refusal cases
    case("delivery_refusal", {"reason": ""}, "reason", "at least 1", "refusal-empty-reason"),
    case(
        "delivery_refusal",
        {"reason_code": "contract_invalid"},
        "reason_code",
        "",
        "refusal-code-unknown",
    ),
]

# Every kind: an unknown field is rejected, and so is another kind's discriminator.
INVALID_CASES += [
    case(kind, {"unexpected_field": "synthetic-extra-value"}, "unexpected_field", "Extra", "extra")
    for kind in EXAMPLE_KINDS
]
INVALID_CASES += [
    case(kind, {"kind": "sealed"}, "kind", "Input should be", "kind-sealed")
    for kind in EXAMPLE_KINDS
]


def test_invalid_table_covers_every_kind() -> None:
    counts = dict.fromkeys(EXAMPLE_KINDS, 0)
    for param in INVALID_CASES:
        counts[param.values[0]] += 1
    assert min(counts.values()) >= 4
    assert counts["vaccination_record"] >= 27


def assert_quiet(exc: ValidationError, changes: dict[str, object]) -> None:
    """Neither the example's personal values nor the changed values appear in the error."""
    text = str(exc)
    # Changed values that are vocabulary (kiosk, had_disease) may rightly appear in a
    # message listing what is allowed; values that look like data must not.
    changed = [v for v in string_values(list(changes.values())) if looks_like_data(v)]
    for value in [*personal_forms(), *changed]:
        assert value not in text


def looks_like_data(value: str) -> bool:
    """A value with a digit, a space, a hyphen or a non-ASCII character, at least 4 long."""
    return len(value) >= 4 and any(c.isdigit() or c in " -" or not c.isascii() for c in value)


@pytest.mark.parametrize(("kind", "changes", "loc", "message"), INVALID_CASES)
def test_invalid_payload_is_rejected_without_echoing_input(
    kind: str, changes: dict[str, object], loc: str, message: str
) -> None:
    document = mutate(example_document(kind), changes)
    with pytest.raises(ValidationError) as caught:
        PAYLOAD_BY_KIND[kind].model_validate_json(json.dumps(document))
    errors = caught.value.errors(include_input=False)
    locations = {dotted(error["loc"]): error["msg"] for error in errors}
    assert loc in locations, f"{loc!r} not among {sorted(locations)}"
    assert message in locations[loc]
    assert_quiet(caught.value, changes)


# The union picks its model by `kind`, so the cases that change it do not apply.
UNION_CASES = [param for param in INVALID_CASES if "kind" not in param.values[1]]


@pytest.mark.parametrize(("kind", "changes", "loc", "message"), UNION_CASES)
def test_invalid_payload_is_rejected_by_the_union(
    kind: str, changes: dict[str, object], loc: str, message: str
) -> None:
    document = mutate(example_document(kind), changes)
    with pytest.raises(ValidationError) as caught:
        ANY_PAYLOAD.validate_json(json.dumps(document))
    locations = {dotted(error["loc"]) for error in caught.value.errors(include_input=False)}
    assert (f"{kind}.{loc}" if loc else kind) in locations
    assert_quiet(caught.value, changes)


@pytest.mark.parametrize(
    ("model", "kind", "changes"),
    [
        (CertificateApplication, "certificate_application", {"my_number_source": "typed"}),
        (TransferOutProvision, "transfer_out_provision", {"status": "no_record"}),
    ],
)
def test_python_mode_errors_are_quiet_as_well(
    model: type[Payload], kind: str, changes: dict[str, object]
) -> None:
    document = mutate(example_document(kind), changes)
    with pytest.raises(ValidationError) as caught:
        model.model_validate(document)
    assert_quiet(caught.value, changes)
