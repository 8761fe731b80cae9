"""F13: the VRS export CSV never carries a My Number (R22), whatever the rows hold."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.health_mgmt.export_csv import HEADER, MyNumberInExport, export_csv
from contracts.codes import looks_like_my_number
from contracts.examples import example_payload
from contracts.payloads import ExportRow, VaccinationExport


def _example() -> VaccinationExport:
    example = example_payload("vaccination_export")
    assert isinstance(example, VaccinationExport)
    return example


EXAMPLE = _example()


def cells(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("cp932"))))


def test_the_export_has_a_header_and_a_row_per_dose_and_no_my_number() -> None:
    table = cells(export_csv(EXAMPLE))
    assert tuple(table[0]) == HEADER
    assert len(table) == len(EXAMPLE.rows) + 1
    assert not any(looks_like_my_number(cell) for row in table for cell in row)


@settings(max_examples=200, deadline=None)
@given(basic_codes=st.lists(st.from_regex(r"[0-9]{1,15}", fullmatch=True), min_size=1, max_size=5))
def test_no_basic_code_that_passes_the_check_digit_gets_through(basic_codes: list[str]) -> None:
    template = EXAMPLE.rows[0]
    rows = [template.model_copy(update={"basic_code": code}) for code in basic_codes]
    forged = EXAMPLE.model_copy(update={"rows": tuple(rows)})  # skips the contract's check
    if any(looks_like_my_number(code) for code in basic_codes):
        with pytest.raises(MyNumberInExport, match="basic_code: passes the My Number check"):
            export_csv(forged)
    else:
        table = cells(export_csv(forged))
        assert not any(looks_like_my_number(cell) for row in table for cell in row)


def test_the_contract_already_refuses_a_my_number_in_an_export() -> None:
    row = EXAMPLE.rows[0].model_dump(mode="json") | {"basic_code": "123456789018"}
    with pytest.raises(ValueError, match="R22"):
        VaccinationExport(batch_id=EXAMPLE.batch_id, rows=(ExportRow.model_validate(row),))
