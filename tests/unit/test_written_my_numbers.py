"""A My Number in free text however a person writes it (issue 15, the desk under attack):
full-width or other digits, whole or grouped by hyphens, dashes, spaces or dots. What reads
free text (the approver's comment, the user agent kept at log-in, log lines) uses
contracts.codes.written_my_numbers, so none of these gets into the append-only log."""

from __future__ import annotations

import pytest

from contracts.codes import masked_my_numbers, my_number_check_digit, written_my_numbers
from hub.desk.common import AGENT_MAX, DeskError, Terminal, clean_comment

BASE = "98765432109"
NUMBER = BASE + str(my_number_check_digit(BASE))  # 987654321093
WIDE = "".join(chr(0xFF10 + int(d)) for d in NUMBER)
ARABIC_INDIC = "".join(chr(0x0660 + int(d)) for d in NUMBER)

WRITTEN = [
    NUMBER,
    f"{NUMBER[:4]}-{NUMBER[4:8]}-{NUMBER[8:]}",
    f"{NUMBER[:4]} {NUMBER[4:8]} {NUMBER[8:]}",
    f"{NUMBER[:4]}.{NUMBER[4:8]}.{NUMBER[8:]}",
    f"{NUMBER[:4]} - {NUMBER[4:8]} - {NUMBER[8:]}",
    WIDE,
    f"{WIDE[:4]}－{WIDE[4:8]}－{WIDE[8:]}",  # full-width hyphen-minus
    f"{NUMBER[:4]}ー{NUMBER[4:8]}ー{NUMBER[8:]}",  # katakana long-vowel mark
    f"{NUMBER[:4]}\u2212{NUMBER[4:8]}\u2010{NUMBER[8:]}",  # minus sign, hyphen
    f"{WIDE[:4]}\u3000{WIDE[4:8]}\u3000{WIDE[8:]}",  # ideographic spaces
    ARABIC_INDIC,
    NUMBER[:11] + WIDE[11],  # mixed widths
]


@pytest.mark.parametrize("written", WRITTEN)
def test_every_way_of_writing_it_is_read(written: str) -> None:
    assert written_my_numbers(f"about {written}, see") == [NUMBER]
    assert masked_my_numbers(f"about {written}, see") == "about <my-number>, see"


@pytest.mark.parametrize(
    "text",
    [
        "no number here",
        NUMBER[:11] + str((int(NUMBER[11]) + 1) % 10),  # a wrong check digit
        f"1{NUMBER}",  # 13 digits: a longer number, not a My Number
        f"{NUMBER}-4",
        "2026-12-03 10:00 lot FK1234",  # dates and times are not read as one
        f"{NUMBER[:6]}x{NUMBER[6:]}",  # a letter breaks it
    ],
)
def test_what_is_not_a_my_number_is_left_alone(text: str) -> None:
    assert written_my_numbers(text) == []
    assert masked_my_numbers(text) == text


@pytest.mark.parametrize("written", WRITTEN)
def test_a_comment_that_writes_a_my_number_is_refused_without_repeating_it(written: str) -> None:
    with pytest.raises(DeskError) as refused:
        clean_comment(f"the person is {written}")
    assert refused.value.code == "invalid_comment"
    assert written not in str(refused.value)
    assert NUMBER not in str(refused.value)


def test_the_user_agent_and_client_are_kept_bounded_and_filtered() -> None:
    terminal = Terminal("192.0.2.1\x00\n", f"Mozilla/5.0 ({WRITTEN[1]})\r\n" + "x" * 1000)
    assert terminal.client == "192.0.2.1"
    assert terminal.agent.startswith("Mozilla/5.0 (<my-number>)x")
    assert len(terminal.agent) == AGENT_MAX
    assert NUMBER not in str(terminal.as_dict())
    assert not any(c in terminal.agent for c in "\r\n\x00")
