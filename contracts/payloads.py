"""Payload models, one per message kind that crosses the hub (flows F1-F20 of domain.md).

Every model is frozen and rejects unknown fields. Fields that hold a person's name,
address, birth date or other identifying text are marked `x-pii` in the JSON schema and
left out of `repr()`; My Numbers use `MyNumber`, which masks itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from contracts._b64 import b64decode
from contracts.canonical import Day, PlainDecimal, UtcDateTime, WireUUID
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
    fiscal_year,
    looks_like_my_number,
    writes_my_number,
)

_JST = timezone(timedelta(hours=9))
_PII: dict[str, Any] = {"x-pii": True}

MasterCode = Annotated[str, StringConstraints(pattern=r"^[0-9A-Z]{1,10}$")]
"""A code from one of the health-management system's masters (physicians, venues, makers)."""
BirthDate = Annotated[Day, Field(repr=False, json_schema_extra=_PII)]
"""A birth date: never optional, so the repr-hiding Field can sit in the alias."""


def _not_bool(value: object) -> object:
    # Literal[1] admits True (True == 1 in Python): on the wire an integer is an integer.
    if isinstance(value, bool):
        raise ValueError("must be an integer, not a boolean")
    return value


Sex = Annotated[Literal[1, 2, 9], BeforeValidator(_not_bool)]
"""ISO 5218: 1 male, 2 female, 9 not applicable."""
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200)]
YearMonth = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}(0[1-9]|1[0-2])$")]
VaccineType = Literal[
    "BCG",
    "MR",
    "MEASLES",
    "RUBELLA",
    "JAPANESE_ENCEPHALITIS",
    "HPV",
    "INFLUENZA_ELDERLY",
    "PNEUMOCOCCAL_ELDERLY",
    "COVID19",
    "DPT_IPV",
    "DT",
    "HIB",
    "PCV",
    "HEPATITIS_B",
    "ROTAVIRUS",
    "VARICELLA",
    "OTHER",
]
MyNumberPurpose = Literal["transfer_in_inquiry", "transfer_out_provision", "certificate"]
"""The three uses of a My Number allowed in the COVID-19 domain (R21)."""


def today_jst() -> date:
    """Today's date in Japan, against which 'not in the future' is judged."""
    return datetime.now(UTC).astimezone(_JST).date()


def _not_future(day: date | None, field: str) -> None:
    if day is not None and day > today_jst():
        raise ValueError(f"{field} must not be in the future")


class Part(BaseModel):
    """Base of every payload and of the parts inside one: frozen, unknown fields rejected,
    inputs kept out of error messages."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class Payload(Part):
    """Base of the payload of one message kind."""

    kind: str
    """The message kind; each subclass narrows it to one literal, the union's discriminator."""


class VaccinationRecord(Payload):
    """F3/F4: one vaccination result from a returned 予診票, the 27 items of 別添1."""

    kind: Literal["vaccination_record"] = "vaccination_record"
    basic_code: BasicCode  # 1 基本コード
    vaccine_type: VaccineType  # 2 接種種類
    dose_number: int = Field(ge=1, le=20)  # 3 接種回数
    dose_stage: int | None = Field(default=None, ge=1, le=4)  # 3 1期/2期
    fiscal_year: int = Field(ge=1900, le=2999)  # 4 接種年度
    administered_on: Day  # 5 接種年月日
    screening_physician: MasterCode  # 6 予診医コード
    administering_physician: MasterCode  # 7 接種医コード
    venue: MasterCode  # 8 接種会場コード
    medical_institution: MedicalInstitutionCode  # 9 医療機関コード
    category: Literal["routine", "temporary", "voluntary"]  # 10 接種区分
    unsuitable_reason: Literal["fever", "acute_illness", "anaphylaxis_history", "other"] | None = (
        None  # 11 接種不適当区分
    )
    certificate_issued: Literal["issued", "not_issued", "reissued"]  # 12 接種済証発行区分
    dose_volume_ml: PlainDecimal | None = Field(default=None, gt=0, le=10)  # 13 接種量
    site: (
        Literal["left_upper_arm", "right_upper_arm", "left_thigh", "right_thigh", "mouth", "other"]
        | None
    ) = None  # 14 接種部位
    route: Literal["subcutaneous", "intramuscular", "oral", "percutaneous"] | None = None  # 15
    manufacturer: MasterCode | None = None  # 16 メーカー
    product_name: Annotated[str, StringConstraints(min_length=1, max_length=60)] | None = None  # 17
    lot_number: LotNumber | None = None  # 18 ロットNO
    vaccine_expiry: Day | None = None  # 19 有効期限
    disease_history: Literal["none", "had_disease", "unknown"] = "none"  # 20 罹患区分
    illness_date: Day | None = None  # 21 罹患年月日
    subsidy_category: Literal["none", "full", "partial"] = "none"  # 22 助成区分
    subsidy_date: Day | None = None  # 23 助成年月日
    subsidy_amount_jpy: int | None = Field(default=None, ge=0, le=10_000_000)  # 24 助成金額
    billing_month: YearMonth | None = None  # 25 請求年月
    remarks: Annotated[str, StringConstraints(max_length=200)] | None = None  # 26 備考
    other_municipality: Literal["own", "other"] = "own"  # 27 他市町村接種区分
    phone: PhoneNumber | None = None  # 電話番号

    @model_validator(mode="after")
    def _consistent(self) -> VaccinationRecord:
        _not_future(self.administered_on, "administered_on")
        _not_future(self.illness_date, "illness_date")
        if self.fiscal_year != fiscal_year(self.administered_on):
            raise ValueError("fiscal_year must be the April-March fiscal year of administered_on")
        done = self.unsuitable_reason is None
        given = (self.lot_number, self.route, self.dose_volume_ml)
        if done and None in given:
            raise ValueError("lot_number, route and dose_volume_ml are required when given")
        if not done and any(v is not None for v in given):
            raise ValueError("lot_number, route and dose_volume_ml must be empty when unsuitable")
        if (self.disease_history == "had_disease") != (self.illness_date is not None):
            raise ValueError("illness_date is required exactly when disease_history=had_disease")
        return self

    @property
    def expired_vaccine_administered(self) -> bool:
        """Item 19 earlier than item 5: an expired vaccine was given (an alert, not an error)."""
        return self.vaccine_expiry is not None and self.vaccine_expiry < self.administered_on


class DoseHistoryItem(Part):
    """One dose in a 副本 data set or a provision: no names, no My Number."""

    vaccine_type: VaccineType
    dose_number: int = Field(ge=1, le=20)
    administered_on: Day
    lot_number: LotNumber | None = None
    manufacturer: MasterCode | None = None


class FukuhonRegistration(Payload):
    """F4: 副本 registration on the intermediate server, keyed by 団体内統合宛名番号."""

    kind: Literal["fukuhon_registration"] = "fukuhon_registration"
    person: InternalPersonNumber
    data_item: DataItemCode
    operation: Literal["upsert", "delete"] = "upsert"
    history: tuple[DoseHistoryItem, ...] = Field(default=(), max_length=200)
    resident_code: ResidentRecordCode | None = Field(
        default=None, repr=False, json_schema_extra=_PII
    )
    """符号取得のための情報: given for a new subject, so the server can acquire its 符号 (F5)."""


class TargetPerson(Part):
    """One person due for vaccination and the ticket issued to them."""

    basic_code: BasicCode
    my_number: MyNumber | None = None
    name: PersonName
    name_kana: PersonName | None = None
    birth_date: BirthDate
    sex: Sex
    address: PostalAddress
    ticket_number: TicketNumber
    ticket_issued_on: Day


class TargetRegistration(Payload):
    """F11: people due and the tickets issued to them, from health management to VRS."""

    kind: Literal["target_registration"] = "target_registration"
    batch_id: WireUUID
    purpose: MyNumberPurpose | None = None
    targets: tuple[TargetPerson, ...] = Field(min_length=1, max_length=1000)


class DoseRecord(Payload):
    """F12: a dose recorded at the vaccination site by reading the ticket."""

    kind: Literal["dose_record"] = "dose_record"
    ticket_number: TicketNumber
    ticket_ocr: Annotated[str, StringConstraints(pattern=r"^[0-9]{18}$")] | None = None
    dose_number: int = Field(ge=1, le=20)
    vaccinated_on: Day
    manufacturer: MasterCode
    product_name: Annotated[str, StringConstraints(min_length=1, max_length=60)]
    lot_number: LotNumber
    venue: MasterCode

    @model_validator(mode="after")
    def _ocr_matches(self) -> DoseRecord:
        _not_future(self.vaccinated_on, "vaccinated_on")
        if self.ticket_ocr is not None:
            LocalGovCode(self.ticket_ocr[2:8])
            if self.ticket_ocr[8:] != self.ticket_number:
                raise ValueError("ticket_ocr digits 9-18 must equal ticket_number")
        return self


class CovidDose(Part):
    """One COVID-19 dose as VRS holds it (domain.md 3.3)."""

    dose_number: int = Field(ge=1, le=20)
    status: Literal["done", "not_done"] = "done"
    vaccinated_on: Day
    manufacturer: MasterCode
    lot_number: LotNumber
    vaccine_type: VaccineType = "COVID19"
    product_name: Annotated[str, StringConstraints(max_length=60)] | None = None


class ExportRow(Part):
    """One row of the VRS to health-management CSV: never a My Number (R22)."""

    basic_code: BasicCode
    ticket_number: TicketNumber
    dose: CovidDose


class VaccinationExport(Payload):
    """F13: vaccination records from VRS to health management, without any My Number."""

    kind: Literal["vaccination_export"] = "vaccination_export"
    batch_id: WireUUID
    rows: tuple[ExportRow, ...] = Field(min_length=1, max_length=5000)

    @model_validator(mode="after")
    def _no_my_number(self) -> VaccinationExport:
        for path, value in _strings(self):
            if looks_like_my_number(value):
                raise ValueError(f"{path} passes the My Number check digit (R22)")
        return self


def _strings(part: Part, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(dotted path, value) for every string inside a part, at any depth."""
    for name, value in part.__dict__.items():
        items = enumerate(value) if isinstance(value, tuple) else [(None, value)]
        for index, item in items:
            path = f"{prefix}{name}" + ("" if index is None else f"[{index}]")
            if isinstance(item, Part):
                yield from _strings(item, path + ".")
            elif isinstance(item, str):
                yield path, item


class IdentityCheck(Part):
    """A record that an official checked the person's identity document (番号法 §16)."""

    document: Literal["my_number_card", "passport", "driving_licence", "other"]
    checked_at: UtcDateTime
    checked_by: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")]

    @field_validator("checked_by")
    @classmethod
    def _an_account_not_a_number(cls, value: str) -> str:
        if writes_my_number(value):  # typed in the wrong field, it is kept nowhere
            raise ValueError("must be a staff account id, not a number")
        return value


class TransferInInquiry(Payload):
    """F14: ask the former municipality, through VRS, for a new resident's COVID-19 records."""

    kind: Literal["transfer_in_inquiry"] = "transfer_in_inquiry"
    purpose: Literal["transfer_in_inquiry"] = "transfer_in_inquiry"
    inquiry_id: WireUUID
    former_municipality: LocalGovCode
    my_number: MyNumber
    register_confirmed: bool  # R04: confirmed against our resident register first
    consent_reference: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    identity_check: IdentityCheck | None = None


TransferRefusal = Literal["no_consent", "no_identity_check"]
"""Why a former city refused a transfer-in inquiry (F15, R02)."""


class TransferOutProvision(Payload):
    """F15: our COVID-19 records for a person who moved away, sent to the new municipality."""

    kind: Literal["transfer_out_provision"] = "transfer_out_provision"
    purpose: Literal["transfer_out_provision"] = "transfer_out_provision"
    inquiry_id: WireUUID
    my_number: MyNumber  # the number the inquirer confirmed in its register (R03)
    register_confirmed: bool
    status: Literal["provided", "no_record", "refused"]
    refusal: TransferRefusal | None = None
    """Why the former city would not answer (status refused): its policy asks for the
    resident's consent or for the record of the ID check, and the inquiry had none (R02)."""
    doses: tuple[CovidDose, ...] = Field(default=(), max_length=20)

    @model_validator(mode="after")
    def _status_matches(self) -> TransferOutProvision:
        if (self.status == "provided") != bool(self.doses):
            raise ValueError("doses must be present exactly when status=provided")
        if (self.status == "refused") != (self.refusal is not None):
            raise ValueError("refusal must be given exactly when status=refused")
        return self


class ResidentStatusFlag(Payload):
    """F16: moved-out or deceased flag for VRS; carries no My Number (R21)."""

    kind: Literal["resident_status_flag"] = "resident_status_flag"
    basic_code: BasicCode
    ticket_number: TicketNumber | None = None
    flag: Literal["moved_out", "deceased", "cleared"]
    effective_on: Day


class CardSignature(Part):
    """The My Number Card chip's signature over its 4 items and the My Number (R07)."""

    algorithm: Literal["Ed25519", "ES256", "RS256"]
    certificate_serial: Annotated[str, StringConstraints(pattern=r"^[0-9A-F]{2,40}$")]
    value: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{16,1024}$")]


class PassportInfo(Part):
    """旅券関係情報, needed for a certificate for overseas use."""

    romanized_name: Annotated[str, StringConstraints(pattern=r"^[A-Z ]{1,39}$")] = Field(
        repr=False, json_schema_extra=_PII
    )
    nationality: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    passport_number: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{5,12}$")] = Field(
        repr=False, json_schema_extra=_PII
    )

    @model_validator(mode="after")
    def _japanese_passport(self) -> PassportInfo:
        num = self.passport_number
        if self.nationality == "JPN" and not (num[:2].isalpha() and num[2:].isdigit()):
            raise ValueError("a Japanese passport number is two letters and seven digits")
        if self.nationality == "JPN" and len(num) != 9:
            raise ValueError("a Japanese passport number is two letters and seven digits")
        return self


class CertificateApplication(Payload):
    """F17-F19: an application for a COVID-19 vaccination certificate."""

    kind: Literal["certificate_application"] = "certificate_application"
    purpose: Literal["certificate"] = "certificate"
    application_id: WireUUID
    channel: Literal["counter", "app", "kiosk"]
    use: Literal["domestic", "overseas"]
    my_number: MyNumber
    my_number_source: Literal["card_chip", "typed"]
    name: PersonName
    birth_date: BirthDate
    sex: Sex
    address: PostalAddress
    card_signature: CardSignature | None = None
    pin_verified: bool = False
    passport: PassportInfo | None = None
    identity_check: IdentityCheck | None = None
    """At the counter, the record of the official's check of the applicant's identity
    document (番号法 §16, F17): which document, checked by whom, when."""

    @model_validator(mode="after")
    def _factors(self) -> CertificateApplication:
        if self.use == "overseas" and self.passport is None:
            raise ValueError("passport is required for a certificate for overseas use")
        if (self.channel == "counter") != (self.identity_check is not None):
            raise ValueError("identity_check is required at the counter (F17), and only there")
        if self.channel != "counter":
            if self.my_number_source != "card_chip":
                raise ValueError("my_number_source must be card_chip for app and kiosk (R08)")
            if self.card_signature is None or not self.pin_verified:
                raise ValueError("card_signature and pin_verified are required (R06)")
        return self


class CertificateIssued(Payload):
    """F17-F19: the certificate issued for an application, as a SMART Health Card."""

    kind: Literal["certificate_issued"] = "certificate_issued"
    application_id: WireUUID
    certificate_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{8,64}$")]
    issued_on: Day
    format: Literal["smart_health_card"] = "smart_health_card"
    jws: Annotated[
        str, StringConstraints(pattern=r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
    ]


class InquiryRequest(Payload):
    """F6/F7: an information inquiry, from health management through the intermediate server."""

    kind: Literal["inquiry_request"] = "inquiry_request"
    inquiry_id: WireUUID
    inquirer: LocalGovCode
    provider: LocalGovCode
    person: LinkageCode | InternalPersonNumber
    permit_id: WireUUID | None = None  # set once the network has issued a permit (R30)


class ProvisionPermit(Payload):
    """F6: the network's 情報提供許可証 and the route to the inquirer."""

    kind: Literal["provision_permit"] = "provision_permit"
    permit_id: WireUUID
    inquiry_id: WireUUID
    inquirer: LocalGovCode
    provider: LocalGovCode
    list_version: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{8,64}$")]
    issued_at: UtcDateTime
    expires_at: UtcDateTime
    route: tuple[SystemId, ...] = Field(min_length=2, max_length=8)

    @model_validator(mode="after")
    def _window(self) -> ProvisionPermit:
        if self.expires_at <= self.issued_at:
            raise ValueError("expires_at must be after issued_at")
        return self


class ProvisionResponse(Payload):
    """F7: the provider's reply to an inquiry; travels sealed to the inquirer (R43)."""

    kind: Literal["provision_response"] = "provision_response"
    inquiry_id: WireUUID
    permit_id: WireUUID
    status: Literal["provided", "no_data", "withheld"]
    history: tuple[DoseHistoryItem, ...] = Field(default=(), max_length=200)
    nondisclosure: bool = False
    """不開示 (R47): the provider's policy keeps this exchange from the resident's view of
    the records about them; both sides' 情報提供等記録 carry the flag."""


class InquiryResult(Payload):
    """F6: the opened result of an inquiry, from the intermediate server to health management."""

    kind: Literal["inquiry_result"] = "inquiry_result"
    inquiry_id: WireUUID
    person: InternalPersonNumber
    status: Literal["provided", "no_data", "withheld", "refused"]
    history: tuple[DoseHistoryItem, ...] = Field(default=(), max_length=200)
    delete_after: UtcDateTime  # R42: finished results are deleted automatically


class ProvisionRecord(Payload):
    """R47: 情報提供等記録, written by both parties for every inquiry and provision."""

    kind: Literal["provision_record"] = "provision_record"
    record_id: WireUUID
    inquiry_id: WireUUID
    role: Literal["inquirer", "provider"]
    inquirer: LocalGovCode
    provider: LocalGovCode
    requested_at: UtcDateTime
    provided_at: UtcDateTime | None = None
    nondisclosure: bool = False
    retention_until: Day


class PermittedListRow(Part):
    """One row of the permitted-inquiry list (domain.md section 5)."""

    procedure: ProcedureCode
    inquirer: LocalGovCode | None = None  # None: any 市町村長
    provider: LocalGovCode | None = None
    data_item: DataItemCode
    direction: Literal["inquiry", "provision", "both"]
    effective_from: Day
    effective_to: Day | None = None
    auto_response_disabled: bool = False
    retention_days: int = Field(ge=1, le=3650)


class PermittedListUpdate(Payload):
    """F8: the network distributes a new permitted-inquiry list to the intermediate server."""

    kind: Literal["permitted_list_update"] = "permitted_list_update"
    list_version: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{8,64}$")]
    rows: tuple[PermittedListRow, ...] = Field(min_length=1, max_length=10_000)


class LinkageRegistration(Payload):
    """F5: a new 符号 and whom it stands for, so the network can convert it between agencies."""

    kind: Literal["linkage_registration"] = "linkage_registration"
    code: LinkageCode
    resident_code: ResidentRecordCode = Field(repr=False, json_schema_extra=_PII)


class SelfInformationRequest(Payload):
    """F9: a resident asks, through the network, for their own data."""

    kind: Literal["self_information_request"] = "self_information_request"
    request_id: WireUUID
    person: LinkageCode
    exchange_records: bool = False
    """And for the 情報提供等記録 about them: who asked for what, when, under which
    procedure (what マイナポータル shows)."""


class ExchangeRecordView(Part):
    """R47: one 情報提供等記録 about a resident as they are shown it, none marked 不開示."""

    # Which city asked this one or was asked by it, for which data item under which
    # procedure, when, and what came of it; never a number of theirs.
    role: Literal["inquirer", "provider"]
    """This city's part: it asked (inquirer) or it answered (provider)."""
    counterpart: LocalGovCode
    procedure: ProcedureCode
    data_item: DataItemCode
    requested_at: UtcDateTime
    provided_at: UtcDateTime | None = None
    outcome: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_:-]{1,63}$")]


class ResidentNotice(Payload):
    """F10: an お知らせ notice to a resident, or the status reply to their request."""

    kind: Literal["resident_notice"] = "resident_notice"
    notice_id: WireUUID
    person: LinkageCode | InternalPersonNumber  # the 符号 only, once past the server (R40)
    in_reply_to: WireUUID | None = None
    notice_type: Literal["vaccination_due", "self_information_reply", "status"]
    history: tuple[DoseHistoryItem, ...] = Field(default=(), max_length=200)
    exchange_records: tuple[ExchangeRecordView, ...] = Field(default=(), max_length=500)


class ApprovalAttestation(Payload):
    """The hub's statement that a 所属長 approved a held reply (R37), sent with the release."""

    kind: Literal["approval_attestation"] = "approval_attestation"
    held_message_id: WireUUID
    approver: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")]
    decided_at: UtcDateTime
    content_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    comment: Annotated[str, StringConstraints(max_length=500)] | None = None


class RejectionNotice(Payload):
    """The hub tells a sender that its message was rejected or its held reply expired."""

    kind: Literal["rejection_notice"] = "rejection_notice"
    rejected_message_id: WireUUID
    reason_code: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,63}$")]
    reason: ShortText
    rejected_at: UtcDateTime


CertificateRefusal = Literal[
    "not_enrolled",
    "typed_my_number",
    "second_factor",
    "card_signature",
    "identity_mismatch",
    "no_record",
    "unknown_product",
    "card_too_large",
    "application_closed",
]
"""VRS's refusals of a certificate application (F17-F19), for the center to tell the
terminal at once: the card or its factors, the register, the records, R05."""
CERTIFICATE_REFUSALS: frozenset[str] = frozenset(get_args(CertificateRefusal))
RefusalCode = Literal[
    "not_openable",
    "content_invalid",
    "declaration_mismatch",
    "digest_mismatch",
    "not_attested",
    CertificateRefusal,
]
"""Why a recipient refused a delivery after the hub had delivered it (DeliveryRefusal)."""


class DeliveryRefusal(Payload):
    """A recipient tells the sender it refused a delivery once it had opened it."""

    # The sealed payload did not open, its plaintext is not a valid payload of the kind,
    # or it does not match what the envelope declared (contracts/README.md, "Sealing").

    kind: Literal["delivery_refusal"] = "delivery_refusal"
    refused_message_id: WireUUID
    reason_code: RefusalCode
    reason: ShortText


def _binary(length: int | None = None, at_least: int = 0) -> AfterValidator:
    """Unpadded base64url with zero trailing bits, of `length` (or at least `at_least`)
    bytes: the one spelling of binary on the wire, checked where it is received."""

    def check(text: str) -> str:
        data = b64decode(text)  # ValueError names the rule, never the text
        if (length is not None and len(data) != length) or len(data) < at_least:
            raise ValueError(f"must hold {length or f'at least {at_least}'} bytes")
        return text

    return AfterValidator(check)


class SealedPayload(Payload):
    """A payload encrypted to the recipient (contracts/README.md, "Sealing")."""

    kind: Literal["sealed"] = "sealed"
    recipient_key_id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{2,63}$")]
    ephemeral_public_key: Annotated[
        str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{43}$"), _binary(32)
    ]
    nonce: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{16}$"), _binary(12)]
    ciphertext: Annotated[
        str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{22,}$"), _binary(at_least=16)
    ]


PAYLOAD_MODELS: tuple[type[Payload], ...] = (
    VaccinationRecord,
    FukuhonRegistration,
    TargetRegistration,
    DoseRecord,
    VaccinationExport,
    TransferInInquiry,
    TransferOutProvision,
    ResidentStatusFlag,
    CertificateApplication,
    CertificateIssued,
    InquiryRequest,
    ProvisionPermit,
    ProvisionResponse,
    InquiryResult,
    ProvisionRecord,
    PermittedListUpdate,
    LinkageRegistration,
    SelfInformationRequest,
    ResidentNotice,
    ApprovalAttestation,
    RejectionNotice,
    DeliveryRefusal,
)
"""Every plaintext payload model; `SealedPayload` can stand in for any of them."""

MessageKind = Literal[
    "vaccination_record",
    "fukuhon_registration",
    "target_registration",
    "dose_record",
    "vaccination_export",
    "transfer_in_inquiry",
    "transfer_out_provision",
    "resident_status_flag",
    "certificate_application",
    "certificate_issued",
    "inquiry_request",
    "provision_permit",
    "provision_response",
    "inquiry_result",
    "provision_record",
    "permitted_list_update",
    "linkage_registration",
    "self_information_request",
    "resident_notice",
    "approval_attestation",
    "rejection_notice",
    "delivery_refusal",
]

AnyPayload = Annotated[
    VaccinationRecord
    | FukuhonRegistration
    | TargetRegistration
    | DoseRecord
    | VaccinationExport
    | TransferInInquiry
    | TransferOutProvision
    | ResidentStatusFlag
    | CertificateApplication
    | CertificateIssued
    | InquiryRequest
    | ProvisionPermit
    | ProvisionResponse
    | InquiryResult
    | ProvisionRecord
    | PermittedListUpdate
    | LinkageRegistration
    | SelfInformationRequest
    | ResidentNotice
    | ApprovalAttestation
    | RejectionNotice
    | DeliveryRefusal
    | SealedPayload,
    Field(discriminator="kind"),
]
"""The discriminated union carried in `Envelope.payload`, keyed on `kind`."""

PAYLOAD_BY_KIND: dict[str, type[Payload]] = {
    model.model_fields["kind"].default: model for model in PAYLOAD_MODELS
}


REVIEWED_KINDS = frozenset({"provision_response", "transfer_out_provision"})
"""The provisions, which may be held for a 所属長 (R37): their envelope may carry a review
copy, sealed to the provider municipality's desk (`Envelope.review`)."""


class ReviewSubject(Part):
    """Whom a provision is about, as the provider knows the person (the 所属長 sees it masked)."""

    reference: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,15}$")] | None = Field(
        default=None, repr=False, json_schema_extra=_PII
    )
    """The provider's own number for the person (団体内統合宛名番号 or 宛名番号)."""
    name: PersonName | None = Field(default=None, repr=False, json_schema_extra=_PII)
    birth_date: Day | None = Field(default=None, repr=False, json_schema_extra=_PII)


class ReviewCopy(Part):
    """A provision as its provider's 所属長 reviews it before it leaves (R37)."""

    kind: Literal["review_copy"] = "review_copy"
    inquirer: LocalGovCode
    """The municipality that asked."""
    inquirer_system: SystemId
    subject: ReviewSubject
    provision: Annotated[ProvisionResponse | TransferOutProvision, Field(discriminator="kind")]
    """The payload exactly as sealed to the inquirer: the attestation carries its digest."""


SEALED_KINDS = frozenset(
    {
        "vaccination_record",
        "fukuhon_registration",
        "target_registration",
        "dose_record",
        "vaccination_export",
        "transfer_in_inquiry",
        "transfer_out_provision",
        "resident_status_flag",
        "certificate_application",
        "certificate_issued",
        "inquiry_request",
        "provision_response",
        "inquiry_result",
        "linkage_registration",
        "self_information_request",
        "resident_notice",
    }
)
"""The kinds whose payload identifies a person: they travel sealed to their recipient
system, always (the hub refuses them in plaintext), and every other kind travels in
plaintext (permits, 情報提供等記録, the list, the hub's attestations and notices, refusals:
ids, parties and codes only)."""


def carries_my_number(payload: Payload) -> bool:
    """True if any field of the payload, at any depth, holds a My Number."""
    return any(_holds_my_number(value) for value in payload.__dict__.values())


def _holds_my_number(value: object) -> bool:
    if isinstance(value, MyNumber):
        return True
    if isinstance(value, Part):
        return any(_holds_my_number(item) for item in value.__dict__.values())
    if isinstance(value, tuple):
        return any(_holds_my_number(item) for item in value)
    return False
