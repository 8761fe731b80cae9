"""The vaccine table (adapters/kit/vaccines.py) row by row: each product given in Japan, by
its Japanese name as the package insert writes it and by its English name, to the CVX code
CDC's table gives its platform, valency and dose (expected values written out here from
that source, not read back from the table); anything else is refused, never coded 213."""

from __future__ import annotations

from datetime import date

import pytest

from adapters.kit.vaccines import PRODUCTS, UnknownProduct, cvx_of

EARLY = date(2022, 1, 1)  # a day each product on the table was still named by itself
EXPECTED = [  # (Japanese, English, CVX)
    ("コミナティ筋注", "Comirnaty", "208"),
    ("コミナティ筋注５～１１歳用", "Comirnaty for ages 5 to 11", "218"),
    ("コミナティ筋注６ヵ月～４歳用", "Comirnaty for ages 6 months to 4", "219"),
    (
        "コミナティRTU筋注（２価：起源株／オミクロン株BA.1）",
        "Comirnaty RTU Bivalent Original/Omicron BA.1",
        "300",
    ),
    (
        "コミナティRTU筋注（２価：起源株／オミクロン株BA.4-5）",
        "Comirnaty RTU Bivalent Original/Omicron BA.4-5",
        "300",
    ),
    (
        "コミナティ筋注５～１１歳用（２価：起源株／オミクロン株BA.4-5）",
        "Comirnaty Bivalent Original/Omicron BA.4-5 for ages 5 to 11",
        "301",
    ),
    (
        "コミナティ筋注６ヵ月～４歳用（２価：起源株／オミクロン株BA.4-5）",
        "Comirnaty Bivalent Original/Omicron BA.4-5 for ages 6 months to 4",
        "302",
    ),
    ("スパイクバックス筋注", "Spikevax", "207"),
    (
        "スパイクバックス筋注（２価：起源株／オミクロン株BA.1）",
        "Spikevax Bivalent Original/Omicron BA.1",
        "229",
    ),
    (
        "スパイクバックス筋注（２価：起源株／オミクロン株BA.4-5）",
        "Spikevax Bivalent Original/Omicron BA.4-5",
        "229",
    ),
    ("バキスゼブリア筋注", "Vaxzevria", "210"),
    ("ヌバキソビッド筋注", "Nuvaxovid", "211"),
    ("ジェコビデン筋注", "Jcovden", "212"),
]


@pytest.mark.parametrize(("japanese", "english", "code"), EXPECTED)
def test_each_product_given_in_japan_has_its_own_cvx_code(
    japanese: str, english: str, code: str
) -> None:
    assert cvx_of(japanese, EARLY).cvx == code
    assert cvx_of(english, EARLY).cvx == code
    assert cvx_of(japanese, EARLY) == cvx_of(english, EARLY)


def test_the_table_is_exactly_the_rows_tested() -> None:
    assert [(p.japanese, p.english, p.cvx) for p in PRODUCTS] == EXPECTED
    assert "213" not in {p.cvx for p in PRODUCTS}  # never "unspecified"


def test_a_name_matches_as_typed_in_either_width_and_case() -> None:
    assert cvx_of("コミナティ筋注5~11歳用", EARLY).cvx == "218"  # half-width digits, tilde
    assert cvx_of("コミナティ筋注５〜１１歳用", EARLY).cvx == "218"  # the wave dash of IMEs
    assert cvx_of("  SPIKEVAX ", EARLY).cvx == "207"
    assert cvx_of("コミナティRTU筋注(2価:起源株/オミクロン株BA.4-5)").cvx == "300"


@pytest.mark.parametrize(
    ("name", "last_day", "code"),
    [
        ("コミナティ筋注５～１１歳用", date(2023, 3, 7), "218"),  # the bivalent from 3/8
        ("コミナティ筋注６ヵ月～４歳用", date(2023, 9, 19), "219"),  # XBB.1.5 from 9/20
        ("スパイクバックス筋注", date(2022, 9, 19), "207"),  # the bivalents from 9/20
        ("ヌバキソビッド筋注", date(2023, 9, 19), "211"),
    ],
)
def test_a_sales_name_kept_for_a_later_formula_codes_only_the_doses_before_it(
    name: str, last_day: date, code: str
) -> None:
    """Japan kept these names for later formulas: a dose recorded by the bare name on or
    after the next formula came is refused (it needs the formula-qualified name), never
    coded as the first formula."""
    assert cvx_of(name, last_day).cvx == code
    for later in (date.fromordinal(last_day.toordinal() + 1), date(2025, 10, 1), None):
        with pytest.raises(UnknownProduct, match="needs the formula-qualified name"):
            cvx_of(name, later)


@pytest.mark.parametrize(
    "name",
    [
        None,
        "",
        "コミナティ",  # a part of a name is no name
        "Pfizer",  # a maker is no product
        "comirnaty booster",
        "ダイチロナ筋注",  # given in Japan, no CVX code
        "コスタイベ筋注",
        "インフルエンザHAワクチン",
    ],
)
def test_anything_else_is_refused(name: str | None) -> None:
    with pytest.raises(UnknownProduct, match="product_name: not a COVID-19 vaccine product"):
        cvx_of(name)
