"""Plays the systems around health management for the demo, the tests and benchmarks: the
address system handing over residents (F1) and the clinics returning 予診票 (F3).

Residents are synthetic (Faker `ja_JP`): names with their kana, birth dates, addresses in
the city, valid My Numbers and 住民票コード, made from a seed so a run can be repeated.
Never imported by the adapter's bridge.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from faker import Faker

from adapters.health_mgmt.records_csv import COLUMNS
from adapters.kit.acts import ACT_COLUMNS, Act
from contracts.codes import my_number_check_digit
from contracts.examples import example_payload

__all__ = ["CITY_NAMES", "Town", "forms_csv"]

CITY_NAMES = {"082279": "茨城県筑西市", "082074": "茨城県結城市"}


@dataclass
class Town:
    """One city's residents, as its address system knows them."""

    city: str
    seed: int = 0
    people: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._faker = Faker("ja_JP")
        self._faker.seed_instance(self.seed or int(self.city))
        self._random = random.Random(self.seed or int(self.city))  # noqa: S311 - test data

    def residents(self, count: int, *, with_tickets: bool = True) -> list[dict[str, Any]]:
        """`count` new residents (F1 rows), kept in `people`."""
        made = []
        for _ in range(count):
            made.append(self._resident(with_tickets))
            self.people.append(made[-1])  # the next one's numbers follow this one's
        return made

    def moved_in(self, before: dict[str, Any]) -> dict[str, Any]:
        """The same individual registered here after a move: same My Number and 住民票コード,
        a new person number, basic code, address and ticket."""
        moved = self._resident(True) | {
            key: before[key]
            for key in ("resident_code", "my_number", "name", "name_kana", "birth_date", "sex")
        }
        self.people.append(moved)
        return moved

    def _resident(self, ticket: bool) -> dict[str, Any]:
        fake, n = self._faker, len(self.people) + 1
        sex = self._random.choice((1, 2))
        family = fake.last_name_pair()
        given = fake.first_name_male_pair() if sex == 1 else fake.first_name_female_pair()
        base = "".join(str(self._random.randrange(10)) for _ in range(11))
        number = f"{self.city[2:5]}{n:07d}"
        return {
            "person": number,
            "basic_code": number,
            "resident_code": "".join(str(self._random.randrange(10)) for _ in range(11)),
            "my_number": base + str(my_number_check_digit(base)),
            "name": f"{family[0]} {given[0]}",
            "name_kana": f"{family[1]} {given[1]}",
            "birth_date": fake.date_of_birth(minimum_age=12, maximum_age=95).isoformat(),
            "sex": sex,
            "address": CITY_NAMES[self.city] + fake.town() + fake.chome() + fake.ban() + fake.gou(),
            "ticket_number": f"{self.city[1:4]}{n:07d}" if ticket else "",
            "ticket_issued_on": "2025-04-01" if ticket else "",
        }

    def returned_forms(
        self, people: list[dict[str, Any]], *, bad: int = 0, by: Act | None = None
    ) -> bytes:
        """A clinic's batch of returned 予診票 (F3) for `people`, with `bad` broken rows,
        keyed in `by` a clerk at a terminal."""
        rows = []
        for index, resident in enumerate(people):
            on = date(2025, 10, 1) + timedelta(days=self._random.randrange(40))
            rows.append(
                {
                    "basic_code": resident["basic_code"],
                    "administered_on": on.isoformat(),
                    "fiscal_year": str(on.year if on.month >= 4 else on.year - 1),
                    "dose_number": str(1 + index % 3),
                }
            )
        rows += [{"basic_code": "12a"}] * bad
        return forms_csv(rows, encoding="cp932", by=by)


def forms_csv(
    rows: list[dict[str, str]], *, encoding: str = "utf-8", by: Act | None = None
) -> bytes:
    """A batch of returned 予診票 (F3): for each row, the example record with the row's
    cells changed, under the layout's header; with `by`, the 操作者 and 端末 columns too."""
    template = {
        k: ("" if v is None else str(v))
        for k, v in example_payload("vaccination_record").model_dump(mode="json").items()
        if k != "kind"
    }
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    names = list(COLUMNS) if by is None else [*ACT_COLUMNS, *COLUMNS]
    made = {} if by is None else {"operator": by.operator, "terminal": by.terminal}
    writer.writerow(names)
    for row in rows:
        writer.writerow([(made | template | row).get(name, "") for name in names])
    return out.getvalue().encode(encoding)
