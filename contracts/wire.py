"""Received bytes to a JSON document, within limits, before anything else looks at them.

Whatever a sender publishes, `read_document` either returns a JSON object or raises
`WireError` with a reason that names the rule broken and never quotes the input. The limits
are checked in the order that keeps the work bounded: the size first (nothing is read of a
body that is too large), then the nesting depth (one linear pass in C, so a body of
brackets cannot exhaust the parser's stack), then the parse itself, with integers checked
before Python converts them (a 5,000-digit number never reaches `int()`), and floats and
the constants NaN and Infinity refused, as the contract has none (contracts/README.md,
"Wire forms").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, ClassVar

__all__ = ["MAX_INTEGER", "WireError", "WireLimits", "read_document"]

MAX_INTEGER = 2**53 - 1
"""The largest integer an envelope holds (I-JSON, RFC 7493): exact in every JSON parser."""
_MAX_INTEGER_DIGITS = len(str(MAX_INTEGER))

# A JSON string, escapes included; the unrolled form never backtracks, and a string that
# never closes takes the rest of the input with it (else every later quote would start a
# new scan to the end: quadratic on a body of escaped quotes).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [1 if b in b"[{" else -1 if b in b"]}" else 0 for b in range(256)]


class WireError(ValueError):
    """The bytes are not a JSON object within the limits; `code` is the reason code."""

    code: ClassVar[str] = "contract_invalid"


class TooLarge(WireError):
    """The body is larger than the limit; nothing of it was read."""

    code = "too_large"


@dataclass(frozen=True, slots=True)
class WireLimits:
    """How much a received envelope may be: bytes in all, and levels of nesting.

    The defaults admit the largest envelope the contract allows (a permitted-inquiry list of
    10,000 rows, sealed, is about 3 MB; an envelope nests at most 6 levels).
    """

    max_bytes: int = 4 * 1024 * 1024
    max_depth: int = 32


def read_document(data: bytes, limits: WireLimits) -> dict[str, Any]:
    """The JSON object in `data`; WireError (a TooLarge for size) names the rule broken."""
    if len(data) > limits.max_bytes:
        raise TooLarge(f"envelope: {len(data)} bytes, over the limit of {limits.max_bytes}")
    try:
        text = data.decode("utf-8")  # strict: no invalid sequences, no encoded surrogates
    except UnicodeDecodeError:
        raise WireError("envelope: not UTF-8") from None
    if _nesting(data, limits.max_depth) == "deep":
        raise WireError(
            f"envelope: arrays and objects nested deeper than {limits.max_depth} levels"
        )
    try:
        document = json.loads(
            text, parse_int=_integer, parse_float=_no_float, parse_constant=_no_float
        )
    except json.JSONDecodeError:
        raise WireError("envelope: not JSON") from None
    if not isinstance(document, dict):
        raise WireError("envelope must be a JSON object")
    return document


def _nesting(data: bytes, limit: int) -> str:
    """ "ok", or "deep" when containers nest deeper than `limit` (counting those left open:
    an unbalanced body is the parser's to refuse, once it cannot recurse too deep)."""
    if data.count(b"[") + data.count(b"{") <= limit:
        return "ok"  # no deeper than its openers, wherever they are: most envelopes
    skeleton = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    # The depth is the highest running sum of +1 per opener, -1 per closer; map, accumulate
    # and max all run in C, so this is one linear pass whatever the shape.
    depth = max(accumulate(map(_STEP.__getitem__, skeleton)), default=0)
    return "deep" if depth > limit else "ok"


def _integer(text: str) -> int:
    if len(text.removeprefix("-")) > _MAX_INTEGER_DIGITS or abs(int(text)) > MAX_INTEGER:
        raise WireError("envelope: an integer outside the range of +-(2^53 - 1)")
    return int(text)


def _no_float(text: str) -> None:
    raise WireError("envelope: a number with a fraction or exponent; decimals travel as strings")
