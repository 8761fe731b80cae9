"""The desk's guards as plain functions and files (hub/web/guards.py, hub/web/params.py):
whose origin a request names, which host names are the desk's, whether the body limit
holds the largest body a person sends, and that the pages need no inline script or style
under the CSP. Over HTTP they are tests/integration/test_web_attacks.py."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode

import pytest
from pydantic import BaseModel

from hub.desk.common import COMMENT_MAX
from hub.settings import DeskSettings
from hub.web.guards import CSP, allowed_hosts, same_origin
from hub.web.models import LoginRequest
from hub.web.params import in_utc, printable

TEMPLATES = Path(__file__).resolve().parents[2] / "hub" / "web" / "templates"
WIDE = "𠮷"  # outside the BMP: 4 bytes of UTF-8, 12 percent-encoded, two \u escapes in JSON


def _scope(scheme: str = "http", host: str = "127.0.0.1:8080", **headers: str) -> dict[str, object]:
    raw = [(b"host", host.encode())] + [(k.encode(), v.encode()) for k, v in headers.items()]
    return {"type": "http", "scheme": scheme, "headers": raw}


@pytest.mark.parametrize(
    ("scope", "same"),
    [
        (_scope(origin="http://127.0.0.1:8080"), True),
        (_scope(origin="HTTP://127.0.0.1:8080"), True),
        (_scope("https", "desk.example", origin="https://desk.example"), True),
        (_scope("https", "desk.example:443", origin="https://desk.example"), True),
        (_scope(referer="http://127.0.0.1:8080/held/x?y=1"), True),
        (_scope(origin="http://127.0.0.1:8081"), False),
        (_scope(origin="https://127.0.0.1:8080"), False),  # another scheme
        (_scope("https", "desk.example", origin="http://desk.example"), False),
        (_scope(origin="http://127.0.0.1.evil.example:8080"), False),
        (_scope(origin="null"), False),
        (_scope(origin="null", referer="http://127.0.0.1:8080/"), False),  # Origin decides
        (_scope(origin=""), False),
        (_scope(origin="http://127.0.0.1:99999"), False),
        (_scope(referer="https://evil.example/held"), False),
        (_scope(), False),  # neither: not a browser of the desk's pages
    ],
)
def test_a_request_names_the_desks_origin_or_not(scope: dict[str, object], same: bool) -> None:
    assert same_origin(scope) is same


def test_the_desk_answers_to_this_machines_names_and_where_it_listens_by_default() -> None:
    default = DeskSettings()
    assert default.allowed_hosts == ("localhost", "127.0.0.1", "[::1]")
    assert "testserver" not in allowed_hosts(default)  # the tests allow it themselves
    assert "*" not in allowed_hosts(default)
    assert allowed_hosts(DeskSettings(http_host="desk.example"))[-1] == "desk.example"
    assert allowed_hosts(DeskSettings(http_host="::1"))[-1] == "[::1]"
    assert "0.0.0.0" not in allowed_hosts(DeskSettings(http_host="0.0.0.0"))  # noqa: S104
    listed = DeskSettings.model_validate({"allowed_hosts": "desk.example, 10.0.0.5"})
    assert listed.allowed_hosts == ("desk.example", "10.0.0.5")


def _max_length(model: type[BaseModel], name: str) -> int:
    metadata = model.model_fields[name].metadata
    return int(next(m.max_length for m in metadata if hasattr(m, "max_length")))


def test_the_body_limit_holds_the_largest_body_a_person_sends() -> None:
    user, password = (WIDE * _max_length(LoginRequest, name) for name in ("user_id", "password"))
    comment = WIDE * COMMENT_MAX
    bodies = [
        json.dumps({"user_id": user, "password": password}),
        urlencode({"user_id": user, "password": password}),
        json.dumps({"comment": comment, "content_sha256": "0" * 64}),
        urlencode({"csrf": "0" * 64, "content_sha256": "0" * 64, "comment": comment}),
    ]
    largest = max(len(body.encode()) for body in bodies)
    least = next(m.ge for m in DeskSettings.model_fields["max_body_bytes"].metadata)
    assert largest <= least <= DeskSettings().max_body_bytes


def test_the_pages_need_no_inline_script_or_style() -> None:
    assert "unsafe" not in CSP
    assert "default-src 'none'" in CSP
    inline = re.compile(r"<script|<style|\sstyle=|\son[a-z]+=|javascript:", re.IGNORECASE)
    pages = sorted(TEMPLATES.glob("*.html"))
    assert len(pages) >= 9
    for page in pages:
        assert not inline.search(page.read_text(encoding="utf-8")), page.name


@pytest.mark.parametrize("text", ["\x00", "a\x00b", "\x1b[2J", "\x7f", "\x85", "a\tb"])
def test_text_with_control_characters_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="control characters"):
        printable(text)


def test_text_without_them_passes() -> None:
    assert printable("健康増進課 health-promotion") == "健康増進課 health-promotion"
    assert printable(None) is None


def test_a_time_is_a_moment_in_utc_or_refused() -> None:
    assert in_utc(datetime(2026, 1, 31, 9, 0)) == datetime(2026, 1, 31, 9, 0, tzinfo=UTC)  # noqa: DTZ001
    tokyo = timezone(timedelta(hours=9))
    assert in_utc(datetime(2026, 1, 31, 9, 0, tzinfo=tokyo)) == datetime(
        2026, 1, 31, 0, 0, tzinfo=UTC
    )
    late = timezone(-timedelta(hours=23, minutes=59))
    early = timezone(timedelta(hours=23, minutes=59))
    for moment in (datetime(9999, 12, 31, 23, 59, tzinfo=late), datetime(1, 1, 1, tzinfo=early)):
        with pytest.raises(ValueError, match="out of range"):
            in_utc(moment)
