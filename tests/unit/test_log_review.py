"""The review of the audit trail as plain values (R17, hub/log_review.py): office hours in
Japan's time, the period of --since/--until, the report and the digest an auditor's mark
attests."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from hub.log_review import (
    FailedLogins,
    LoginAt,
    OfficeHours,
    Period,
    PeriodInvalid,
    Refusals,
    Reveals,
    ReviewFacts,
    ReviewMark,
    ReviewRules,
    UnusedAccount,
    parse_period,
    report,
)

NOW = datetime(2026, 3, 4, 6, 0, 0, tzinfo=UTC)  # Wednesday 15:00 in Japan
HOURS = OfficeHours.parse("08:30-17:15")


@pytest.mark.parametrize(
    ("at", "outside"),
    [
        (datetime(2026, 3, 4, 0, 0, tzinfo=UTC), False),  # Wed 09:00 JST
        (datetime(2026, 3, 3, 23, 29, tzinfo=UTC), True),  # Wed 08:29 JST
        (datetime(2026, 3, 3, 23, 30, tzinfo=UTC), False),  # Wed 08:30 JST: included
        (datetime(2026, 3, 4, 8, 15, tzinfo=UTC), True),  # Wed 17:15 JST: excluded
        (datetime(2026, 3, 3, 18, 0, tzinfo=UTC), True),  # Wed 03:00 JST
        (datetime(2026, 3, 7, 1, 0, tzinfo=UTC), True),  # Sat 10:00 JST
        (datetime(2026, 3, 8, 16, 0, tzinfo=UTC), True),  # Sun 16:00 UTC: Mon 01:00 JST
        (datetime(2026, 3, 9, 0, 0, tzinfo=UTC), False),  # Mon 09:00 JST
    ],
)
def test_r17_office_hours_are_japans_weekdays(at: datetime, outside: bool) -> None:
    assert HOURS.outside(at) is outside


@pytest.mark.parametrize("text", ["8:30-17:15", "17:15-08:30", "08:30-08:30", "25:00-26:00", ""])
def test_r17_office_hours_that_are_not_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="office hours"):
        OfficeHours.parse(text)


def test_r17_office_hours_may_end_at_midnight_and_print_as_written() -> None:
    assert str(OfficeHours.parse("00:00-24:00")) == "00:00-24:00"
    assert OfficeHours.parse("00:00-24:00").end == time.max
    assert str(HOURS) == "08:30-17:15"


@pytest.mark.parametrize(
    ("since", "until", "expected"),
    [
        (None, None, Period(NOW - timedelta(days=7), NOW)),
        ("7d", None, Period(NOW - timedelta(days=7), NOW)),
        ("12h", "1d", Period(NOW - timedelta(hours=36), NOW - timedelta(days=1))),
        (
            "2026-03-01T00:00",
            "2026-03-02T09:00+09:00",
            Period(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC)),
        ),
    ],
)
def test_r17_the_period_of_since_and_until(
    since: str | None, until: str | None, expected: Period
) -> None:
    assert parse_period(since, until, NOW) == expected


@pytest.mark.parametrize(
    ("since", "until", "field"),
    [
        ("soon", None, "since"),
        (None, "x", "until"),
        ("2026-03-02", "2026-03-01", "since"),
        ("1d", "0001-01-01T00:00", "since"),
    ],
)
def test_r17_a_bad_period_names_its_bound(since: str | None, until: str | None, field: str) -> None:
    with pytest.raises(PeriodInvalid) as caught:
        parse_period(since, until, NOW)
    assert caught.value.field == field


def _facts(**changes: object) -> ReviewFacts:
    at = datetime(2026, 3, 3, 18, 0, tzinfo=UTC)
    facts = {
        "logins": [
            LoginAt(at, "fujita", "192.0.2.1"),
            LoginAt(NOW - timedelta(hours=5), "endo", "192.0.2.2"),
        ],
        "failed": [FailedLogins("aoki", "locked_out", 1, 1, at, at)],
        "reveals": [Reveals("fujita", 3, 2, at)],
        "refusals": [Refusals("held.reveal_refused", "may_not_reveal", 2)],
        "unused": [UnusedAccount("ueda", "system", ("operator",), at, None)],
        "marks": [],
    }
    return ReviewFacts(**{**facts, **changes})  # type: ignore[arg-type]


def test_r17_the_report_counts_logins_outside_hours_and_its_digest_covers_the_findings() -> None:
    period = Period(NOW - timedelta(days=7), NOW)
    rules = ReviewRules(HOURS, 90)
    made = report(period, "082015", rules, _facts())
    assert [x.user_id for x in made.outside_hours] == ["fujita"]
    assert made.logins == 2
    assert made.failed[0].locked
    assert made.sha256 == report(period, "082015", rules, _facts()).sha256
    fewer = report(period, "082015", rules, _facts(reveals=[]))
    assert fewer.sha256 != made.sha256
    assert report(period, None, rules, _facts()).sha256 != made.sha256
    assert report(period, "082015", ReviewRules(HOURS, 30), _facts()).sha256 != made.sha256


def test_r17_a_mark_of_the_same_period_and_digest_says_unchanged() -> None:
    period = Period(NOW - timedelta(days=7), NOW)
    rules = ReviewRules(HOURS, 90)
    made = report(period, "082015", rules, _facts())
    mark = ReviewMark(9, NOW, "endo", "082015", period, made.sha256)
    assert ReviewMark.of(9, NOW, "endo", mark.detail()) == mark
    marked = report(period, "082015", rules, _facts(marks=[mark]))
    assert marked.sha256 == made.sha256  # the marks are not in the digest
    assert marked.unchanged
    assert marked.reviewed == (mark,)
    assert marked.as_json()["marks"][0]["by"] == "endo"
    stale = ReviewMark(9, NOW, "endo", "082015", period, "0" * 64)
    assert not report(period, "082015", rules, _facts(marks=[stale])).unchanged
    part = ReviewMark(9, NOW, "endo", "082015", Period(NOW - timedelta(days=1), NOW), "0" * 64)
    assert report(period, "082015", rules, _facts(marks=[part])).reviewed == ()
