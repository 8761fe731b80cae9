"""Check digits and the other domain codes (domain.md 3.3, 3.4)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from contracts.codes import (
    CodeError,
    DataItemCode,
    LinkageCode,
    LocalGovCode,
    LotNumber,
    MedicalInstitutionCode,
    MyNumber,
    PersonName,
    ProcedureCode,
    SystemId,
    TicketNumber,
    fiscal_year,
    local_gov_check_digit,
    my_number_check_digit,
)

MY_NUMBER_WEIGHTS = (6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
LOCAL_GOV_WEIGHTS = (6, 5, 4, 3, 2)


def single_digit_changes(value: str) -> list[str]:
    """Every string that differs from `value` in exactly one digit."""
    return [
        value[:i] + d + value[i + 1 :]
        for i in range(len(value))
        for d in "0123456789"
        if d != value[i]
    ]


def my_number_remainder(value: str) -> int:
    return sum(int(c) * w for c, w in zip(value[:11], MY_NUMBER_WEIGHTS, strict=True)) % 11


def local_gov_remainder(value: str) -> int:
    return sum(int(c) * w for c, w in zip(value[:5], LOCAL_GOV_WEIGHTS, strict=True)) % 11


@pytest.mark.parametrize(("base", "full"), [("12345678901", "123456789018")])
def test_my_number_check_digit_examples(base: str, full: str) -> None:
    assert my_number_check_digit(base) == int(full[-1])
    assert MyNumber(full).reveal() == full


@pytest.mark.parametrize(
    ("base", "full"),
    [("13101", "131016"), ("01101", "011011"), ("01107", "011070"), ("08227", "082279")],
)
def test_local_gov_check_digit_examples(base: str, full: str) -> None:
    assert local_gov_check_digit(base) == int(full[-1])
    assert LocalGovCode(full) == full


def test_every_single_digit_change_of_the_my_number_example_is_rejected() -> None:
    for changed in single_digit_changes("123456789018"):
        with pytest.raises(CodeError, match="My Number"):
            MyNumber(changed)


@pytest.mark.parametrize("code", ["131016", "011070", "082279"])
def test_every_single_digit_change_of_a_local_gov_example_is_rejected(code: str) -> None:
    for changed in single_digit_changes(code):
        with pytest.raises(CodeError, match="local-government code"):
            LocalGovCode(changed)


def test_local_gov_changes_the_algorithm_cannot_see_are_exactly_the_remainder_collisions() -> None:
    # JIS X 0402 maps remainders 0 and 10 both to check digit 1, so from 011011 (remainder
    # 0) a change that moves the remainder to 10 keeps a valid code. That is the algorithm,
    # not a bug; this test pins down that nothing else slips through.
    accepted = []
    for changed in single_digit_changes("011011"):
        try:
            LocalGovCode(changed)
        except CodeError:
            continue
        accepted.append(changed)
    assert accepted
    assert all(local_gov_remainder(c) in {0, 10} and c[5] == "1" for c in accepted)


@given(st.text(alphabet="0123456789", min_size=11, max_size=11), st.data())
def test_single_digit_changes_of_any_my_number_slip_through_only_on_remainder_0_1(
    base: str, data: st.DataObject
) -> None:
    valid = base + str(my_number_check_digit(base))
    position = data.draw(st.integers(0, 11))
    digit = data.draw(st.sampled_from([d for d in "0123456789" if d != valid[position]]))
    changed = valid[:position] + digit + valid[position + 1 :]
    try:
        MyNumber(changed)
    except CodeError:
        return
    # Only a change of the base that moves the remainder between 0 and 1 (both map to
    # check digit 0 under 総務省令第85号 §5) can keep the number valid.
    assert position < 11
    assert {my_number_remainder(valid), my_number_remainder(changed)} == {0, 1}


@pytest.mark.parametrize(
    "bad",
    ["12345678901", "1234567890189", "12345678901a", "１２３４５６７８９０１８", " 123456789018"],
)
def test_my_number_shape_errors_name_the_rule(bad: str) -> None:
    with pytest.raises(CodeError, match="12 ASCII digits"):
        MyNumber(bad)


def test_my_number_never_shows_more_than_the_last_four_digits() -> None:
    number = MyNumber("123456789018")
    for shown in (str(number), repr(number), f"{number}", f"{number}", number.masked()):
        assert "12345678" not in shown
        assert shown.endswith("9018") or shown.endswith("9018')")
    assert number == MyNumber("123456789018")
    assert number != "123456789018"


def test_my_number_in_a_model_serializes_in_full_for_json_only() -> None:
    class Holder(BaseModel):
        number: MyNumber

    holder = Holder.model_validate_json('{"number": "123456789018"}')
    assert holder.model_dump_json() == '{"number":"123456789018"}'
    assert isinstance(holder.model_dump()["number"], MyNumber)
    assert "123456789018" not in repr(holder)
    with pytest.raises(ValidationError) as caught:
        Holder.model_validate_json('{"number": 123456789018}')
    assert caught.value.errors()[0]["loc"] == ("number",)


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        (TicketNumber, "0123456789", "012345678"),
        (LotNumber, "FA7812-B", "fa7812"),
        (LotNumber, "A" * 20, "A" * 21),
        (ProcedureCode, "B2-115-2", "B2-115の2"),
        (ProcedureCode, "S19-16", "S20"),
        (ProcedureCode, "B1-93-2", "B3-1"),
        (DataItemCode, "vaccination.history", "Vaccination.History"),
        (MedicalInstitutionCode, "0811234567", "4811234567"),
        (MedicalInstitutionCode, "0831234567", "0821234567"),
        (LinkageCode, "A" * 16, "A" * 15),
        (PersonName, "筑西 太郎", " 筑西 太郎"),
    ],
)
def test_code_rules(kind: type[str], good: str, bad: str) -> None:
    assert kind(good) == good
    with pytest.raises(CodeError) as caught:
        kind(bad)
    assert bad not in str(caught.value)


def test_a_my_number_is_never_a_linkage_code() -> None:
    with pytest.raises(CodeError, match="符号"):
        LinkageCode("123456789018")


def test_person_name_repr_is_redacted() -> None:
    assert "太郎" not in repr(PersonName("筑西 太郎"))


def test_system_ids() -> None:
    assert {s.value for s in SystemId} == {
        "health_mgmt",
        "intermediate",
        "nws",
        "vrs",
        "kiosk",
        "hub",
        "desk",
    }


@pytest.mark.parametrize(
    ("day", "year"),
    [
        (date(2026, 3, 31), 2025),
        (date(2026, 4, 1), 2026),
        (date(2026, 12, 31), 2026),
        (date(2027, 1, 1), 2026),
    ],
)
def test_fiscal_year_runs_april_to_march(day: date, year: int) -> None:
    assert fiscal_year(day) == year
