"""The log guards: My-Number-shaped text is masked, libraries stay at INFO or above."""

from __future__ import annotations

import json
import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider

from observability.logs import LIBRARY_LOGGERS, JsonFormatter, MaskMyNumbers, configure


def render(message: str, *args: object) -> str:
    record = logging.LogRecord("sesshu.test", logging.INFO, __file__, 1, message, args, None)
    MaskMyNumbers().filter(record)
    return str(json.loads(JsonFormatter().format(record))["message"])


@pytest.mark.parametrize(
    ("message", "args", "shown"),
    [
        ("number %s", ("123456789018",), "number <my-number>"),
        ('body {"my_number":"123456789018"}', (), 'body {"my_number":"<my-number>"}'),
        ("row 123456789019 is no My Number", (), "row 123456789019 is no My Number"),
        ("13 digits 1234567890180", (), "13 digits 1234567890180"),
        ("outbox row %d", (42,), "outbox row 42"),
        ("grouped %s", ("1234-5678-9018",), "grouped <my-number>"),
        ("wide %s", ("１２３４５６７８９０１８",), "wide <my-number>"),
        ("spaced 1234 5678 9018.", (), "spaced <my-number>."),
    ],
)
def test_my_number_shaped_text_is_masked(
    message: str, args: tuple[object, ...], shown: str
) -> None:
    assert render(message, *args) == shown


def test_libraries_never_log_below_info_even_at_debug() -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure("DEBUG")
        assert root.level == logging.DEBUG
        for name in LIBRARY_LOGGERS:
            assert logging.getLogger(name).level == logging.INFO
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


def test_a_line_carries_the_current_span_and_the_message_it_is_about() -> None:
    tracer = TracerProvider().get_tracer("test")
    record = logging.LogRecord("sesshu.test", logging.INFO, __file__, 1, "held", (), None)
    record.message_id, record.kind, record.decision = "0b5e", "provision_response", "held"
    record.reason = "auto_response_disabled"
    with tracer.start_as_current_span("process hub.ingress") as span:
        line = json.loads(JsonFormatter().format(record))
    context = span.get_span_context()
    assert line["trace_id"] == format(context.trace_id, "032x")
    assert line["span_id"] == format(context.span_id, "016x")
    assert (line["message_id"], line["kind"], line["decision"], line["reason"]) == (
        "0b5e",
        "provision_response",
        "held",
        "auto_response_disabled",
    )
    outside = json.loads(JsonFormatter().format(record))
    assert "trace_id" not in outside
