"""Domain codes as validated types.

Each type validates on construction and inside pydantic models, and rejects bad input
with a message that names the rule it broke, never the input itself: several of these
values are specific personal information and must not reach a log or an error text.

The check-digit algorithms are the ones in domain.md section 3.4.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from enum import StrEnum
from typing import Any, ClassVar, Self

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

__all__ = [
    "BasicCode",
    "CodeError",
    "DataItemCode",
    "InternalPersonNumber",
    "LinkageCode",
    "LocalGovCode",
    "LotNumber",
    "MedicalInstitutionCode",
    "MyNumber",
    "PersonName",
    "PhoneNumber",
    "PostalAddress",
    "ProcedureCode",
    "ResidentRecordCode",
    "SystemId",
    "TicketNumber",
    "fiscal_year",
    "local_gov_check_digit",
    "looks_like_my_number",
    "masked_my_numbers",
    "my_number_check_digit",
    "plain_digits",
    "writes_my_number",
    "written_my_numbers",
]

_MY_NUMBER_WEIGHTS = (6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
_LOCAL_GOV_WEIGHTS = (6, 5, 4, 3, 2)


class CodeError(ValueError):
    """A domain code broke its rule; the message names the rule, never the value."""


class SystemId(StrEnum):
    """The systems that exchange envelopes through the hub (design.md, the five systems)."""

    HEALTH_MGMT = "health_mgmt"
    INTERMEDIATE = "intermediate"
    NWS = "nws"
    VRS = "vrs"
    KIOSK = "kiosk"
    HUB = "hub"
    DESK = "desk"
    """The approval desk: never a party to an envelope; its ring entries are each
    municipality's review key, to which a provider seals the 所属長's review copy (R37)."""


def my_number_check_digit(base: str) -> int:
    """Check digit of an 11-digit My Number base (総務省令第85号 §5)."""
    remainder = sum(int(d) * w for d, w in zip(base, _MY_NUMBER_WEIGHTS, strict=True)) % 11
    return 0 if remainder <= 1 else 11 - remainder


def local_gov_check_digit(base: str) -> int:
    """Check digit of a 5-digit local-government code (JIS X 0402)."""
    remainder = sum(int(d) * w for d, w in zip(base, _LOCAL_GOV_WEIGHTS, strict=True)) % 11
    return (11 - remainder) % 10


def fiscal_year(day: date) -> int:
    """Japanese fiscal year (April to March) that `day` falls in."""
    return day.year if day.month >= 4 else day.year - 1


def _is_digits(value: str, length: int | None = None) -> bool:
    # str.isdigit() accepts full-width and other Unicode digits; the codes are ASCII only.
    return value.isascii() and value.isdigit() and (length is None or len(value) == length)


class _ValidatedStr(str):
    """A string that is checked once, when it is made, and is a plain str afterwards."""

    rule: ClassVar[str] = ""
    # What the JSON Schema says of it (contracts/schema/): the form; checks beyond a
    # pattern (a check digit) are in the description and contracts/README.md.
    json_pattern: ClassVar[str] = ""

    def __new__(cls, value: object) -> Self:
        if isinstance(value, cls):
            return value
        if not isinstance(value, str):
            raise CodeError(f"{cls.__name__} must be a string")
        cls._check(value)
        return super().__new__(cls, value)

    @classmethod
    def _check(cls, value: str) -> None:
        raise NotImplementedError

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            cls,
            core_schema.str_schema(strict=True),
            serialization=core_schema.to_string_ser_schema(),
        )

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: Any) -> dict[str, Any]:
        described: dict[str, Any] = {"type": "string", "description": cls._description()}
        pattern = cls.json_pattern or cls._own_pattern()
        return described | ({"pattern": pattern} if pattern else {})

    @classmethod
    def _description(cls) -> str:
        return (cls.__doc__ or "").strip().splitlines()[0]

    @classmethod
    def _own_pattern(cls) -> str:
        return ""


class _PatternStr(_ValidatedStr):
    pattern: ClassVar[re.Pattern[str]]

    @classmethod
    def _own_pattern(cls) -> str:
        return f"^(?:{cls.pattern.pattern})$"

    @classmethod
    def _check(cls, value: str) -> None:
        if not cls.pattern.fullmatch(value):
            raise CodeError(f"{cls.__name__} must match {cls.rule}")


class LocalGovCode(_ValidatedStr):
    """6-digit local-government code, JIS X 0402, with its check digit (082279 is Chikusei)."""

    json_pattern = "^[0-9]{6}$"

    @classmethod
    def _check(cls, value: str) -> None:
        if not _is_digits(value, 6):
            raise CodeError("local-government code must be 6 ASCII digits (JIS X 0402)")
        if local_gov_check_digit(value[:5]) != int(value[5]):
            raise CodeError(
                "local-government code check digit does not match "
                "(JIS X 0402: weights 6,5,4,3,2, last digit of 11 - sum mod 11)"
            )

    @property
    def prefecture(self) -> str:
        """The two-digit prefecture code (08 is Ibaraki)."""
        return self[:2]


class TicketNumber(_PatternStr):
    """接種券番号, the 10-digit vaccination ticket number."""

    pattern = re.compile(r"[0-9]{10}")
    rule = "10 ASCII digits (接種券番号)"


class LotNumber(_PatternStr):
    """ロットNO of a vaccine: upper-case letters, digits and hyphens, 1 to 20 characters."""

    pattern = re.compile(r"[A-Z0-9-]{1,20}")
    rule = "^[A-Z0-9-]{1,20}$ (ロットNO)"


class ProcedureCode(_PatternStr):
    """Legal basis of an exchange.

    `B1-<item>[-<sub>]` is 番号法 別表第一 (use), `B2-<item>[-<sub>]` is 別表第二 (network
    linkage; `B2-115-2` is 115の2), `S19-<clause>` is a clause of 番号法 §19 (`S19-16`
    for VRS inquiry and provision).
    """

    # No leading zeros: one spelling per procedure, as the list writes it.
    pattern = re.compile(r"(?:B1|B2)-[1-9][0-9]{0,2}(?:-[1-9][0-9]?)?|S19-[1-9][0-9]?")
    rule = "B1-<item>[-<sub>], B2-<item>[-<sub>] or S19-<clause>, e.g. B2-115-2"


class DataItemCode(_PatternStr):
    """A specific-personal-information data item, dotted lower-case (`vaccination.history`)."""

    pattern = re.compile(r"[a-z][a-z0-9_]{0,30}(?:\.[a-z][a-z0-9_]{0,30}){0,3}")
    rule = "dotted lower-case words, e.g. vaccination.history"


class BasicCode(_PatternStr):
    """基本コード (宛名番号), the health-management system's internal person code."""

    pattern = re.compile(r"[0-9]{1,15}")
    rule = "1 to 15 ASCII digits (基本コード)"


class InternalPersonNumber(_PatternStr):
    """団体内統合宛名番号, the municipality-wide person number."""

    pattern = re.compile(r"[0-9]{1,15}")
    rule = "1 to 15 ASCII digits (団体内統合宛名番号)"


class ResidentRecordCode(_PatternStr):
    """住民票コード: the resident-register code the 符号 is acquired with (F5). Eleven
    digits; the check-digit rule is not public, so only the form is checked."""

    pattern = re.compile(r"[0-9]{11}")
    rule = "11 ASCII digits (住民票コード)"


class LinkageCode(_PatternStr):
    """情報提供用個人識別符号 (符号): opaque, per agency, never derived from a My Number.

    At 16 characters or more it can never be mistaken for a 12-digit My Number (R40).
    """

    pattern = re.compile(r"[A-Za-z0-9]{16,64}")
    rule = "16 to 64 ASCII letters or digits (符号)"


class MedicalInstitutionCode(_ValidatedStr):
    """医療機関コード: prefecture (01-47) + fee table (1 medical, 3 dental, 4 pharmacy) + 7.

    domain.md gives no check-digit algorithm for the last 7 digits, so only the structure is
    checked here.
    """

    json_pattern = "^(?:0[1-9]|[1-3][0-9]|4[0-7])[134][0-9]{7}$"

    @classmethod
    def _check(cls, value: str) -> None:
        if not _is_digits(value, 10):
            raise CodeError("medical-institution code must be 10 ASCII digits")
        if not 1 <= int(value[:2]) <= 47:
            raise CodeError("medical-institution code must start with a prefecture 01-47")
        if value[2] not in "134":
            raise CodeError("medical-institution code fee table (3rd digit) must be 1, 3 or 4")


class _PersonalText(_ValidatedStr):
    """Identifying text about a person, without outer spaces: masked in `repr()`."""

    max_length: ClassVar[int] = 100

    @classmethod
    def _check(cls, value: str) -> None:
        if not 1 <= len(value) <= cls.max_length or value.strip() != value:
            raise CodeError(
                f"{cls.__name__} must be 1 to {cls.max_length} characters without outer spaces"
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<redacted>)"

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: Any) -> dict[str, Any]:
        shape = {"pattern": cls.json_pattern} if cls.json_pattern else {"minLength": 1}
        return {
            "type": "string",
            **shape,
            "maxLength": cls.max_length,
            "description": cls._description(),
            "x-pii": True,
        }


class PersonName(_PersonalText):
    """A person's name (氏名 or its kana reading)."""


class PostalAddress(_PersonalText):
    """A person's address (住所)."""

    max_length = 200


class PhoneNumber(_PersonalText):
    """A telephone number: 10 to 13 ASCII digits and hyphens."""

    max_length = 13
    json_pattern = "^(?=.*[0-9])[0-9-]{10,13}$"

    @classmethod
    def _check(cls, value: str) -> None:
        if not (value.isascii() and 10 <= len(value) <= 13 and value.replace("-", "").isdigit()):
            raise CodeError("PhoneNumber must be 10 to 13 ASCII digits and hyphens")


def looks_like_my_number(value: str) -> bool:
    """True if `value` is 12 ASCII digits whose last digit is a valid My Number check digit."""
    return _is_digits(value, 12) and my_number_check_digit(value[:11]) == int(value[11])


# What people put between the groups of a number they type: hyphens and dashes of every
# width (the katakana long-vowel mark too, a common stand-in), spaces, dots, commas,
# slashes. Read after NFKC, which makes full-width forms ASCII.
_GROUP_SEPARATORS = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc\u30fb .,/"
_SEPARATOR = f"[{re.escape(_GROUP_SEPARATORS)}]"
_WRITTEN_NUMBER = re.compile(
    rf"(?<![0-9])[0-9](?:{_SEPARATOR}{{0,3}}[0-9]){{11}}(?!{_SEPARATOR}{{0,3}}[0-9])"
)


def plain_digits(text: str) -> str:
    """`text` with every way of writing a digit made an ASCII digit: NFKC (full-width and
    other compatibility forms) and then any Unicode decimal digit (Arabic-Indic, ...)."""
    normal = unicodedata.normalize("NFKC", text)
    return "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in normal)


def written_my_numbers(text: str) -> list[str]:
    """Every My Number free text writes, however it is written: in ASCII, full-width or
    other digits, whole or in groups split by hyphens, dashes, spaces or dots
    (`9876-5432-1093`, `９８７６ ５４３２ １０９３`); each as its 12 digits. Twelve digits
    among more (a longer number) are not one."""
    found = []
    for match in _WRITTEN_NUMBER.finditer(plain_digits(text)):
        digits = re.sub(r"[^0-9]", "", match[0])
        if looks_like_my_number(digits):
            found.append(digits)
    return found


def masked_my_numbers(text: str, mask: str = "<my-number>") -> str:
    """`text` with every My Number it writes (as `written_my_numbers` reads them) replaced
    by `mask`; `text` unchanged where it writes none (else its digits read plain)."""
    plain = plain_digits(text)
    masked = _WRITTEN_NUMBER.sub(
        lambda match: mask if looks_like_my_number(re.sub(r"[^0-9]", "", match[0])) else match[0],
        plain,
    )
    return text if masked == plain else masked


def writes_my_number(text: str) -> bool:
    """True where free text writes a My Number in any of the ways `written_my_numbers`
    reads."""
    return bool(written_my_numbers(text))


class MyNumber:
    """個人番号: 12 digits with the 総務省令第85号 §5 check digit.

    `str()` and `repr()` show at most the last four digits; `reveal()` is the only way to the
    full number, and JSON serialization (the wire and the signature) uses it.
    """

    __slots__ = ("_digits",)

    def __init__(self, value: object) -> None:
        if isinstance(value, MyNumber):
            value = value.reveal()
        if not isinstance(value, str) or not _is_digits(value, 12):
            raise CodeError("My Number must be 12 ASCII digits")
        if my_number_check_digit(value[:11]) != int(value[11]):
            raise CodeError(
                "My Number check digit does not match "
                "(総務省令第85号 §5: weights 6,5,4,3,2,7,6,5,4,3,2, mod 11)"
            )
        self._digits = value

    def reveal(self) -> str:
        """The full 12 digits. Call only where the law allows the number to be used."""
        return self._digits

    def masked(self) -> str:
        """Eight asterisks and the last four digits."""
        return "********" + self._digits[-4:]

    def __str__(self) -> str:
        return self.masked()

    def __repr__(self) -> str:
        return f"MyNumber('{self.masked()}')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MyNumber) and other._digits == self._digits

    def __hash__(self) -> int:
        return hash(("MyNumber", self._digits))

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.json_or_python_schema(
            json_schema=core_schema.no_info_after_validator_function(
                cls, core_schema.str_schema(strict=True)
            ),
            python_schema=core_schema.no_info_plain_validator_function(cls),
            serialization=core_schema.plain_serializer_function_ser_schema(
                MyNumber.reveal, when_used="json"
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: Any) -> dict[str, Any]:
        return {
            "type": "string",
            "pattern": "^[0-9]{12}$",
            "description": "個人番号 (My Number): 12 digits, the last a check digit "
            "(contracts/README.md)",
            "x-pii": True,
        }
