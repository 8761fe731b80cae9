"""One valid, entirely synthetic example payload per message kind.

For tests, documentation and simulators. Every value is made up: the My Numbers only carry
a valid check digit (123456789018 is the example of domain.md 3.4), names and addresses are
invented, UUIDs and dates are fixed and in the past so the examples never change. Chikusei
(082279) is the municipality throughout; Yuki city (08207, check digit 4) is its neighbour.

`PERSONAL_VALUES` lists the identifying strings used, so that tests can check that none of
them reaches a `repr()` or an error message.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID

from contracts.codes import (
    BasicCode,
    DataItemCode,
    InternalPersonNumber,
    LinkageCode,
    LocalGovCode,
    LotNumber,
    MedicalInstitutionCode,
    MyNumber,
    PersonName,
    PhoneNumber,
    PostalAddress,
    ProcedureCode,
    ResidentRecordCode,
    SystemId,
    TicketNumber,
)
from contracts.payloads import (
    ApprovalAttestation,
    CardSignature,
    CertificateApplication,
    CertificateIssued,
    CovidDose,
    DeliveryRefusal,
    DoseHistoryItem,
    DoseRecord,
    ExportRow,
    FukuhonRegistration,
    IdentityCheck,
    InquiryRequest,
    InquiryResult,
    LinkageRegistration,
    PassportInfo,
    Payload,
    PermittedListRow,
    PermittedListUpdate,
    ProvisionPermit,
    ProvisionRecord,
    ProvisionResponse,
    RejectionNotice,
    ResidentNotice,
    ResidentStatusFlag,
    SelfInformationRequest,
    TargetPerson,
    TargetRegistration,
    TransferInInquiry,
    TransferOutProvision,
    VaccinationExport,
    VaccinationRecord,
)

__all__ = ["EXAMPLE_KINDS", "PERSONAL_VALUES", "example_payload"]

CHIKUSEI = LocalGovCode("082279")
YUKI = LocalGovCode("082074")  # 08207 + check digit 4 (JIS X 0402)

_MY_NUMBER = "123456789018"
_MY_NUMBER_2 = "987654321093"
_NAME = "下館 花子"
_NAME_KANA = "シモダテ ハナコ"
_NAME_2 = "関本 一郎"
_ADDRESS = "茨城県筑西市みどり町九丁目99番9号"
_ADDRESS_2 = "茨城県筑西市明野台九丁目9番99号"
_BIRTH = date(1951, 6, 23)
_BIRTH_2 = date(1963, 2, 11)
_RESIDENT_CODE = "40718293560"
_PHONE = "0296-00-1234"
_ROMANIZED = "SHIMODATE HANAKO"
_PASSPORT = "TZ0012345"

PERSONAL_VALUES: tuple[str, ...] = (
    _MY_NUMBER,
    _MY_NUMBER_2,
    _NAME,
    _NAME_KANA,
    _NAME_2,
    _ADDRESS,
    _ADDRESS_2,
    _BIRTH.isoformat(),
    _BIRTH_2.isoformat(),
    _PHONE,
    _ROMANIZED,
    _PASSPORT,
    _RESIDENT_CODE,
)
"""The identifying values in the examples (My Numbers, names, addresses, birth dates ...)."""

_INQUIRY = UUID("0192f0a1-3c00-7a10-8000-000000000001")
_PERMIT = UUID("0192f0a1-3c00-7a10-8000-000000000002")
_APPLICATION = UUID("0192f0a1-3c00-7a10-8000-000000000003")
_REQUEST = UUID("0192f0a1-3c00-7a10-8000-000000000004")
_BATCH = UUID("0192f0a1-3c00-7a10-8000-000000000005")


def _at(month: int, day: int, hour: int = 1, minute: int = 0) -> datetime:
    """A fixed UTC instant in 2025."""
    return datetime(2025, month, day, hour, minute, tzinfo=UTC)


def _history() -> tuple[DoseHistoryItem, ...]:
    """Two COVID-19 doses as a 副本 data set holds them: no names, no My Number."""
    return (
        DoseHistoryItem(
            vaccine_type="COVID19",
            dose_number=6,
            administered_on=date(2023, 10, 12),
            lot_number=LotNumber("HH7391"),
            manufacturer="PFE",
        ),
        DoseHistoryItem(
            vaccine_type="COVID19",
            dose_number=7,
            administered_on=date(2024, 11, 5),
            lot_number=LotNumber("KT2208-A"),
            manufacturer="DSK",
        ),
    )


def _covid_dose(number: int, on: date, lot: str) -> CovidDose:
    """A COVID-19 dose as VRS holds it."""
    return CovidDose(
        dose_number=number,
        vaccinated_on=on,
        manufacturer="PFE",
        lot_number=LotNumber(lot),
        product_name="コミナティ筋注",
    )


def _vaccination_record() -> VaccinationRecord:
    return VaccinationRecord(
        basic_code=BasicCode("1000234567"),
        vaccine_type="INFLUENZA_ELDERLY",
        dose_number=1,
        fiscal_year=2025,
        administered_on=date(2025, 10, 20),
        screening_physician="D0012",
        administering_physician="D0012",
        venue="V001",
        medical_institution=MedicalInstitutionCode("0811234567"),
        category="routine",
        certificate_issued="issued",
        dose_volume_ml=Decimal("0.5"),
        site="left_upper_arm",
        route="subcutaneous",
        manufacturer="KMB",
        product_name="インフルエンザHAワクチン",
        lot_number=LotNumber("FL251-0042"),
        vaccine_expiry=date(2026, 6, 30),
        subsidy_category="partial",
        subsidy_date=date(2025, 10, 20),
        subsidy_amount_jpy=3500,
        billing_month="202511",
        remarks="予診票の記載に異常なし",
        phone=PhoneNumber(_PHONE),
    )


def _target_registration() -> TargetRegistration:
    return TargetRegistration(
        batch_id=_BATCH,
        # VRS keeps the My Number only to match records for a later transfer-out (F15).
        purpose="transfer_out_provision",
        targets=(
            TargetPerson(
                basic_code=BasicCode("1000234567"),
                my_number=MyNumber(_MY_NUMBER),
                name=PersonName(_NAME),
                name_kana=PersonName(_NAME_KANA),
                birth_date=_BIRTH,
                sex=2,
                address=PostalAddress(_ADDRESS),
                ticket_number=TicketNumber("0000123456"),
                ticket_issued_on=date(2025, 9, 1),
            ),
            TargetPerson(
                basic_code=BasicCode("1000234568"),
                my_number=MyNumber(_MY_NUMBER_2),
                name=PersonName(_NAME_2),
                birth_date=_BIRTH_2,
                sex=1,
                address=PostalAddress(_ADDRESS_2),
                ticket_number=TicketNumber("0000123457"),
                ticket_issued_on=date(2025, 9, 1),
            ),
        ),
    )


def _dose_record() -> DoseRecord:
    return DoseRecord(
        ticket_number=TicketNumber("0000123456"),
        # ticket type 1, dose 8, municipality 082279, ticket number
        ticket_ocr="18082279" + "0000123456",
        dose_number=8,
        vaccinated_on=date(2025, 10, 15),
        manufacturer="PFE",
        product_name="コミナティ筋注",
        lot_number=LotNumber("LP4810"),
        venue="V002",
    )


def _vaccination_export() -> VaccinationExport:
    return VaccinationExport(
        batch_id=_BATCH,
        rows=(
            ExportRow(
                basic_code=BasicCode("1000234567"),
                ticket_number=TicketNumber("0000123456"),
                dose=_covid_dose(8, date(2025, 10, 15), "LP4810"),
            ),
            ExportRow(
                basic_code=BasicCode("1000234568"),
                ticket_number=TicketNumber("0000123457"),
                dose=_covid_dose(8, date(2025, 10, 17), "LP4811"),
            ),
        ),
    )


def _certificate_application() -> CertificateApplication:
    return CertificateApplication(
        application_id=_APPLICATION,
        channel="app",
        use="overseas",
        my_number=MyNumber(_MY_NUMBER),
        my_number_source="card_chip",
        name=PersonName(_NAME),
        birth_date=_BIRTH,
        sex=2,
        address=PostalAddress(_ADDRESS),
        card_signature=CardSignature(
            algorithm="RS256",
            certificate_serial="0A1B2C3D4E5F",
            value="c3ludGhldGljLWNhcmQtc2lnbmF0dXJlLW92ZXItNC1pdGVtcy1hbmQtbXktbnVtYmVy",
        ),
        pin_verified=True,
        passport=PassportInfo(
            romanized_name=_ROMANIZED, nationality="JPN", passport_number=_PASSPORT
        ),
    )


def _permitted_list_update() -> PermittedListUpdate:
    return PermittedListUpdate(
        list_version="3f9a0c1e",
        rows=(
            PermittedListRow(
                procedure=ProcedureCode("B2-16-2"),
                data_item=DataItemCode("vaccination.history"),
                direction="both",
                effective_from=date(2025, 4, 1),
                retention_days=30,
            ),
            PermittedListRow(
                procedure=ProcedureCode("B2-115-2"),
                inquirer=YUKI,
                provider=CHIKUSEI,
                data_item=DataItemCode("vaccination.pandemic_influenza"),
                direction="provision",
                effective_from=date(2025, 4, 1),
                auto_response_disabled=True,
                retention_days=30,
            ),
        ),
    )


def _build_all() -> dict[str, Payload]:
    """Every example, keyed by its kind."""
    linkage = LinkageCode("QZ7K2M9X4T1B8W6R")
    person = InternalPersonNumber("2000012345")
    examples: tuple[tuple[str, Payload], ...] = (
        ("vaccination_record", _vaccination_record()),
        (
            "fukuhon_registration",
            FukuhonRegistration(
                person=person,
                data_item=DataItemCode("vaccination.history"),
                history=_history(),
            ),
        ),
        ("target_registration", _target_registration()),
        ("dose_record", _dose_record()),
        ("vaccination_export", _vaccination_export()),
        (
            "transfer_in_inquiry",
            TransferInInquiry(
                inquiry_id=_INQUIRY,
                former_municipality=YUKI,
                my_number=MyNumber(_MY_NUMBER),
                register_confirmed=True,
                consent_reference="CONSENT-2025-0042",
                identity_check=IdentityCheck(
                    document="my_number_card",
                    checked_at=_at(10, 1, 0, 30),
                    checked_by="staff.kenko.0042",
                ),
            ),
        ),
        (
            "transfer_out_provision",
            TransferOutProvision(
                inquiry_id=_INQUIRY,
                my_number=MyNumber(_MY_NUMBER_2),
                register_confirmed=True,
                status="provided",
                doses=(
                    _covid_dose(6, date(2023, 10, 12), "HH7391"),
                    _covid_dose(7, date(2024, 11, 5), "KT2208"),
                ),
            ),
        ),
        (
            "resident_status_flag",
            ResidentStatusFlag(
                basic_code=BasicCode("1000234568"),
                ticket_number=TicketNumber("0000123457"),
                flag="moved_out",
                effective_on=date(2025, 11, 1),
            ),
        ),
        ("certificate_application", _certificate_application()),
        (
            "certificate_issued",
            CertificateIssued(
                application_id=_APPLICATION,
                certificate_id="CERT-2025-000123",
                issued_on=date(2025, 11, 5),
                jws="eyJhbGciOiJFUzI1NiIsInppcCI6IkRFRiIsImtpZCI6InNlc3NodS10ZXN0LWlzc3VlciJ9"
                ".c3ludGhldGljIGRlZmxhdGVkIHBheWxvYWQ"
                ".c3ludGhldGljLWVzMjU2LXNpZ25hdHVyZQ",
            ),
        ),
        (
            "inquiry_request",
            InquiryRequest(inquiry_id=_INQUIRY, inquirer=CHIKUSEI, provider=YUKI, person=linkage),
        ),
        (
            "provision_permit",
            ProvisionPermit(
                permit_id=_PERMIT,
                inquiry_id=_INQUIRY,
                inquirer=CHIKUSEI,
                provider=YUKI,
                list_version="3f9a0c1e",
                issued_at=_at(10, 2, 1, 0),
                expires_at=_at(10, 2, 2, 0),
                route=(SystemId.INTERMEDIATE, SystemId.NWS, SystemId.INTERMEDIATE),
            ),
        ),
        (
            "provision_response",
            ProvisionResponse(
                inquiry_id=_INQUIRY, permit_id=_PERMIT, status="provided", history=_history()
            ),
        ),
        (
            "inquiry_result",
            InquiryResult(
                inquiry_id=_INQUIRY,
                person=person,
                status="provided",
                history=_history(),
                delete_after=_at(11, 1),
            ),
        ),
        (
            "provision_record",
            ProvisionRecord(
                record_id=UUID("0192f0a1-3c00-7a10-8000-000000000006"),
                inquiry_id=_INQUIRY,
                role="inquirer",
                inquirer=CHIKUSEI,
                provider=YUKI,
                requested_at=_at(10, 2, 1, 0),
                provided_at=_at(10, 2, 1, 1),
                retention_until=date(2032, 10, 2),  # 7 years (R47)
            ),
        ),
        ("permitted_list_update", _permitted_list_update()),
        (
            "linkage_registration",
            LinkageRegistration(code=linkage, resident_code=ResidentRecordCode(_RESIDENT_CODE)),
        ),
        ("self_information_request", SelfInformationRequest(request_id=_REQUEST, person=linkage)),
        (
            "resident_notice",
            ResidentNotice(
                notice_id=UUID("0192f0a1-3c00-7a10-8000-000000000007"),
                person=linkage,
                in_reply_to=_REQUEST,
                notice_type="self_information_reply",
                history=_history(),
            ),
        ),
        (
            "approval_attestation",
            ApprovalAttestation(
                held_message_id=UUID("0192f0a1-3c00-7a10-8000-000000000008"),
                approver="chief.kenko",
                decided_at=_at(10, 3, 2, 15),
                content_sha256=hashlib.sha256(b"synthetic held reply").hexdigest(),
                comment="提供内容を確認し、提供を承認する。",
            ),
        ),
        (
            "rejection_notice",
            RejectionNotice(
                rejected_message_id=UUID("0192f0a1-3c00-7a10-8000-000000000009"),
                reason_code="purpose_missing",
                reason="a My Number was sent without one of the three purposes (R21)",
                rejected_at=_at(10, 4, 5, 0),
            ),
        ),
        (
            "delivery_refusal",
            DeliveryRefusal(
                refused_message_id=UUID("0192f0a1-3c00-7a10-8000-00000000000a"),
                reason_code="declaration_mismatch",
                reason="declared.my_number: the payload holds a My Number",
            ),
        ),
    )
    return dict(examples)


_EXAMPLES = _build_all()

EXAMPLE_KINDS: tuple[str, ...] = tuple(_EXAMPLES)
"""Every kind that has an example: all the plaintext message kinds."""


def example_payload(kind: str) -> Payload:
    """The synthetic example payload of `kind` (a frozen model, safe to share)."""
    try:
        return _EXAMPLES[kind]
    except KeyError:
        raise KeyError(f"no example payload for kind {kind!r}") from None
