"""The simulated My Number Card and the certificate center's checks: two factors (R06),
the chip signature (R07), no typed My Number (R08), enrolled municipalities (R10), and a
PIN that locks after three wrong tries."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import uuid4

import pytest
from pydantic import ValidationError

from adapters.kiosk.simulator import CardAuthority, CardLocked, MyNumberCard, WrongPin
from adapters.kit.card_check import CardRejected, check_application
from contracts.payloads import CertificateApplication, IdentityCheck

AUTHORITY = CardAuthority()
MY_NUMBER, NAME = "123456789018", "山田 花子"
CHIKUSEI, YUKI = "082279", "082074"


def new_card(authority: CardAuthority = AUTHORITY) -> MyNumberCard:
    return authority.issue(
        my_number=MY_NUMBER,
        name=NAME,
        birth_date=date(1980, 4, 1),
        sex=2,
        address="茨城県筑西市丙360",
        pin="1234",
    )


def check(application: CertificateApplication, enrolled: tuple[str, ...] = (CHIKUSEI,)) -> None:
    check_application(
        application,
        card_authority=AUTHORITY.key.public_key(),
        municipality=CHIKUSEI,
        enrolled=enrolled,
    )


def test_a_card_read_with_its_pin_makes_an_application_the_center_accepts() -> None:
    application = new_card().apply("1234", application_id=uuid4())
    assert application.my_number_source == "card_chip"
    assert application.pin_verified
    check(application)


def test_three_wrong_pins_lock_the_card_and_a_right_one_resets_the_count() -> None:
    card = new_card()
    for left in (2, 1):
        with pytest.raises(WrongPin) as caught:
            card.apply("0000", application_id=uuid4())
        assert caught.value.left == left
    card.apply("1234", application_id=uuid4())  # resets
    for _ in range(2):
        with pytest.raises(WrongPin):
            card.apply("9999", application_id=uuid4())
    with pytest.raises(CardLocked):
        card.apply("9999", application_id=uuid4())
    assert card.locked
    with pytest.raises(CardLocked):
        card.apply("1234", application_id=uuid4())


def test_the_center_refuses_each_broken_rule_without_quoting_the_card() -> None:
    good = new_card().apply("1234", application_id=uuid4())
    foreign = new_card(CardAuthority()).apply("1234", application_id=uuid4())
    cases = {
        "card_signature": [
            good.model_copy(update={"sex": 1}),  # an item changed after the chip signed
            foreign,  # a card of another authority
        ],
        "typed_my_number": [good.model_copy(update={"my_number_source": "typed"})],
        "second_factor": [good.model_copy(update={"pin_verified": False})],
    }
    for code, applications in cases.items():
        for application in applications:
            with pytest.raises(CardRejected) as caught:
                check(application)
            assert caught.value.code == code
            assert MY_NUMBER not in str(caught.value)
            assert NAME not in str(caught.value)
    with pytest.raises(CardRejected, match="not_enrolled"):
        check(good, enrolled=(YUKI,))


def test_counter_applications_are_checked_in_person_not_by_chip() -> None:
    seen = IdentityCheck(
        document="my_number_card", checked_at=datetime.now(UTC), checked_by="staff.madoguchi.01"
    )
    counter = new_card().apply(
        "1234", application_id=uuid4(), channel="counter", identity_check=seen
    )
    check(counter.model_copy(update={"card_signature": None, "pin_verified": False}))
    # R10 on every channel: no channel steps around the enrolment (issue 16).
    for channel in ("counter", "app", "kiosk"):
        application = counter.model_copy(update={"channel": channel})
        with pytest.raises(CardRejected, match="not_enrolled"):
            check(application, enrolled=(YUKI,))


def test_an_id_check_record_is_required_at_the_counter_and_only_there() -> None:
    fields = new_card().apply("1234", application_id=uuid4()).model_dump(mode="json")
    seen = {
        "document": "passport",
        "checked_at": "2026-12-04T09:00:00.000000Z",
        "checked_by": "staff.a",
    }
    with pytest.raises(ValidationError, match="identity_check is required at the counter"):
        CertificateApplication.model_validate(fields | {"channel": "counter"})
    CertificateApplication.model_validate(fields | {"channel": "counter", "identity_check": seen})
    with pytest.raises(ValidationError, match="and only there"):
        CertificateApplication.model_validate(fields | {"channel": "app", "identity_check": seen})


def test_a_card_shows_no_personal_data_in_its_repr() -> None:
    shown = repr(new_card())
    for secret in (MY_NUMBER, NAME, "1980-04-01", "1980, 4, 1", "筑西", "1234"):
        assert secret not in shown
