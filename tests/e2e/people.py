"""Synthetic residents for the end-to-end tests: each call a new person, with a valid My
Number, a 住民票コード, a person number, a basic code and a ticket of their own."""

from __future__ import annotations

import itertools
from typing import Any

from contracts.codes import my_number_check_digit
from contracts.examples import example_payload

__all__ = ["MADE", "dose_row", "identifying_values", "person", "record_row"]

_next = itertools.count(1)
MADE: list[dict[str, Any]] = []
"""Every resident `person` made in this run, for the scan for their data at the end."""
_FAMILY = ("下館", "関本", "明野", "協和", "結城", "川島", "玉戸", "小栗")
_GIVEN = ("花子", "一郎", "美咲", "健太", "陽子", "翔", "さくら", "大輔")
_ADDRESS = {"082279": "茨城県筑西市丙九丁目{n}番9号", "082074": "茨城県結城市結城九丁目{n}番9号"}


def person(
    city: str, *, resident_code: str | None = None, my_number: str | None = None, **changes: Any
) -> dict[str, Any]:
    """A resident row of the address system's file (F1) for `city`."""
    n = next(_next)
    base = f"{31415926000 + n * 7:011d}"
    made = {
        "person": f"{city[:2]}{n:05d}",
        "basic_code": f"{city[:2]}{n:05d}",
        "resident_code": resident_code or f"{40718290000 + n:011d}",
        "my_number": my_number or base + str(my_number_check_digit(base)),
        "name": f"{_FAMILY[n % 8]} {_GIVEN[n % 7]}",
        "birth_date": f"19{40 + n % 50}-0{1 + n % 9}-1{n % 9}",
        "sex": 1 + n % 2,
        "address": _ADDRESS[city].format(n=n % 99 + 1),
        "ticket_number": f"{city[:2]}{n:08d}",
        "ticket_issued_on": "2025-04-01",
    } | changes
    MADE.append(made)
    return made


def identifying_values() -> set[str]:
    """Every My Number, 住民票コード, name, address and birth date (as written in three
    ways) of the residents made so far: none may be readable where they do not belong."""
    values: set[str] = set()
    for made in MADE:
        born = str(made["birth_date"])
        values |= {str(made[k]) for k in ("my_number", "resident_code", "name", "address")}
        values |= {born, born.replace("-", ""), born.replace("-", "/")}
    return values


def dose_row(ticket: str, number: int) -> dict[str, Any]:
    """A dose read from a ticket at the vaccination site (F12)."""
    site = example_payload("dose_record").model_dump(mode="json")
    return {k: v for k, v in site.items() if k not in ("kind", "ticket_ocr")} | {
        "ticket_number": ticket,
        "dose_number": number,
    }


def record_row(basic_code: str, **changes: str) -> dict[str, str]:
    """A returned 予診票 result (F3) for a resident."""
    return {"basic_code": basic_code} | changes
