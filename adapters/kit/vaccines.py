"""The COVID-19 vaccines given in Japan, by the product name VRS records (Japanese, as on
the package insert, or English), to their CVX code for a SMART Health Card (F17-F19).

Sources:
- the product names: the Japanese package inserts (添付文書) as PMDA publishes them, each
  approved product and presentation under its own name (`コミナティ筋注５～１１歳用`, ...);
- the codes: CDC's CVX table ("Vaccines administered", HL7 table 0292), as snapshotted in
  February 2023 in WHO's Digital Documentation of COVID-19 Certificates IG (CodeSystem
  `WHODDCCcvx`), the code system the SMART Health Cards Vaccination & Testing IG names
  (`http://hl7.org/fhir/sid/cvx`).

CVX codes a product by platform, valency and dose, never by strain: the BA.1 and the
BA.4-5 bivalent of one presentation share a code. Japan kept some sales names (販売名)
for later formulas, the formula written only beside them (コミナティ筋注５～１１歳用 was the
original, then the BA.4-5 bivalent from March 2023, then XBB.1.5 from 20 September 2023;
スパイクバックス筋注's bivalents came on 20 September 2022):
such a bare name is a row only for doses given before the next formula came (`until`),
and a later dose needs the formula-qualified name. A product not on this table (XBB.1.5
and later formulas, whose Japanese presentations CVX's US ones do not match and whose
names could not be checked here; ダイチロナ筋注 and コスタイベ筋注, which CVX has no code
for) gets no card: `cvx_of` raises, and VRS refuses the application (`unknown_product`)
rather than writing "COVID-19, unspecified" (213). A new row needs its source beside it
and its test in tests/unit/test_vaccines.py.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date

__all__ = ["CVX", "PRODUCTS", "Product", "UnknownProduct", "cvx_of"]

CVX = "http://hl7.org/fhir/sid/cvx"


@dataclass(frozen=True)
class Product:
    """One product as given in Japan and its CVX code."""

    japanese: str
    english: str
    maker: str
    cvx: str
    cvx_display: str
    until: date | None = None
    """For a bare sales name Japan kept for a later formula: the first day it no longer
    named this one (a dose on or after it needs the formula-qualified name)."""


PRODUCTS: tuple[Product, ...] = (
    Product(
        "コミナティ筋注",
        "Comirnaty",
        "Pfizer",
        "208",
        "COVID-19, mRNA, LNP-S, PF, 30 mcg/0.3 mL dose",
    ),
    Product(
        "コミナティ筋注５～１１歳用",
        "Comirnaty for ages 5 to 11",
        "Pfizer",
        "218",
        "COVID-19, mRNA, LNP-S, PF, 10 mcg/0.2 mL dose, tris-sucrose",
        until=date(2023, 3, 8),
    ),
    Product(
        "コミナティ筋注６ヵ月～４歳用",
        "Comirnaty for ages 6 months to 4",
        "Pfizer",
        "219",
        "COVID-19, mRNA, LNP-S, PF, 3 mcg/0.2 mL dose, tris-sucrose",
        until=date(2023, 9, 20),
    ),
    Product(
        "コミナティRTU筋注（２価：起源株／オミクロン株BA.1）",
        "Comirnaty RTU Bivalent Original/Omicron BA.1",
        "Pfizer",
        "300",
        "COVID-19, mRNA, LNP-S, bivalent booster, PF, 30 mcg/0.3 mL dose",
    ),
    Product(
        "コミナティRTU筋注（２価：起源株／オミクロン株BA.4-5）",
        "Comirnaty RTU Bivalent Original/Omicron BA.4-5",
        "Pfizer",
        "300",
        "COVID-19, mRNA, LNP-S, bivalent booster, PF, 30 mcg/0.3 mL dose",
    ),
    Product(
        "コミナティ筋注５～１１歳用（２価：起源株／オミクロン株BA.4-5）",
        "Comirnaty Bivalent Original/Omicron BA.4-5 for ages 5 to 11",
        "Pfizer",
        "301",
        "COVID-19, mRNA, LNP-S, bivalent booster, PF, 10 mcg/0.2 mL dose",
    ),
    Product(
        "コミナティ筋注６ヵ月～４歳用（２価：起源株／オミクロン株BA.4-5）",
        "Comirnaty Bivalent Original/Omicron BA.4-5 for ages 6 months to 4",
        "Pfizer",
        "302",
        "COVID-19, mRNA, LNP-S, bivalent, PF, 3 mcg/0.2 mL dose",
    ),
    Product(
        "スパイクバックス筋注",
        "Spikevax",
        "Moderna",
        "207",
        "COVID-19, mRNA, LNP-S, PF, 100 mcg/0.5mL dose or 50 mcg/0.25mL dose",
        until=date(2022, 9, 20),
    ),
    Product(
        "スパイクバックス筋注（２価：起源株／オミクロン株BA.1）",
        "Spikevax Bivalent Original/Omicron BA.1",
        "Moderna",
        "229",
        "COVID-19, mRNA, LNP-S, bivalent booster, PF, 50 mcg/0.5 mL or 25mcg/0.25 mL dose",
    ),
    Product(
        "スパイクバックス筋注（２価：起源株／オミクロン株BA.4-5）",
        "Spikevax Bivalent Original/Omicron BA.4-5",
        "Moderna",
        "229",
        "COVID-19, mRNA, LNP-S, bivalent booster, PF, 50 mcg/0.5 mL or 25mcg/0.25 mL dose",
    ),
    Product(
        "バキスゼブリア筋注",
        "Vaxzevria",
        "AstraZeneca",
        "210",
        "COVID-19 vaccine, vector-nr, rS-ChAdOx1, PF, 0.5 mL",
    ),
    Product(
        "ヌバキソビッド筋注",
        "Nuvaxovid",
        "Takeda (Novavax)",
        "211",
        "COVID-19, subunit, rS-nanoparticle+Matrix-M1 Adjuvant, PF, 0.5 mL",
        until=date(2023, 9, 20),
    ),
    Product(
        "ジェコビデン筋注",
        "Jcovden",
        "Janssen",
        "212",
        "COVID-19 vaccine, vector-nr, rS-Ad26, PF, 0.5 mL",
    ),
)


class UnknownProduct(ValueError):
    """A product name that is not on the table: no card names a vaccine it cannot code."""


def _key(name: str) -> str:
    """A name as compared: NFKC (full-width digits, brackets and tildes as typed in half
    width match), the slash in either width, case and spacing ignored."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return "".join(folded.replace("〜", "~").split())


_BY_NAME = {_key(name): p for p in PRODUCTS for name in (p.japanese, p.english)}


def cvx_of(product_name: str | None, given_on: date | None = None) -> Product:
    """The product a recorded name is, by its whole name (never a part of it), for a dose
    given on `given_on` (a bare sales name names its first formula only before `until`)."""
    product = _BY_NAME.get(_key(product_name or ""))
    if product is None:
        raise UnknownProduct("product_name: not a COVID-19 vaccine product on the table")
    if product.until is not None and (given_on is None or given_on >= product.until):
        raise UnknownProduct(
            "product_name: from that day the name covers a later formula too; "
            "the record needs the formula-qualified name"
        )
    return product
