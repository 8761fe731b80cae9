"""Plays the resident's portal (マイナポータル) for the demo and the tests: a resident who
has logged in with their card asks for their own vaccination data (F9). Never imported by
the network's bridge."""

from __future__ import annotations

import csv
import io

__all__ = ["self_requests"]


def self_requests(asked: list[tuple[str, str]]) -> bytes:
    """The portal's requests file: (city, the resident's 符号 there) per row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["municipality", "code"])
    writer.writerows(asked)
    return out.getvalue().encode()
