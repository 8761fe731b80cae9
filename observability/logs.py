"""Structured JSON logs that keep personal data out.

Three guards, because one is not enough:
- the code logs ids, kinds and reason codes, never payloads (reviewed, and tested by
  tests/integration/test_personal_data.py at DEBUG);
- the AMQP and database client libraries log frames and queries at DEBUG, bodies included,
  so they are held at INFO or above whatever the hub's level;
- every record passes a filter that masks anything shaped like a My Number.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from opentelemetry import trace

from contracts.codes import masked_my_numbers

__all__ = ["CONTEXT_FIELDS", "LIBRARY_LOGGERS", "JsonFormatter", "MaskMyNumbers", "configure"]

CONTEXT_FIELDS = ("message_id", "kind", "decision", "reason")
"""What a log call may add with `extra=`: ids, kinds, decisions, reason codes."""

LIBRARY_LOGGERS = ("aiormq", "aio_pika", "asyncpg", "faststream", "pamqp")


class MaskMyNumbers(logging.Filter):
    """Replaces every My Number a message writes, however written (twelve digits with a
    valid check digit, full-width or grouped: `contracts.codes.masked_my_numbers`), by
    `<my-number>`."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = masked_my_numbers(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, process, message, the current span's
    trace and span ids, the message id, kind and decision where the call gave them, and
    the exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"] = format(span.trace_id, "032x")
            entry["span_id"] = format(span.span_id, "016x")
        for name in CONTEXT_FIELDS:  # given as `extra=`: ids and closed sets only
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(level: str) -> None:
    """Root logging to stderr as JSON lines, libraries held at INFO or above."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    handler.addFilter(MaskMyNumbers())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    floor = max(logging.getLevelName(level), logging.INFO)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(floor)
