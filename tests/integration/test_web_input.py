"""Hostile input and what every answer carries (issue 15), over HTTP on the real
database: query parameters (every GET endpoint's, from the OpenAPI document and the
pages' routes) out of range or with control characters are named and refused, never a
500, and so are such bodies; every answer carries a strict CSP, no-store and the other
security headers, and only to the desk's own host names."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest
from fastapi.openapi.utils import get_openapi
from fastapi.testclient import TestClient

from tests.desk_web import EVIL, ORIGIN, PAGES, bearer, desk_client, url_of

pytestmark = pytest.mark.integration


client = pytest.fixture(desk_client, name="client")


# -- hostile query parameters ------------------------------------------------------

HOSTILE = [
    "\x00",
    "a\x00b",
    "\x1b[2J",
    "\x7f",
    "99999999999999999999",
    "-99999999999999999999",
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+23:59",
    "1e309",
    "NaN",
    "-1",
    "x" * 5000,
]
SHOWN = ("\x00", "\x1b", "9999-12-31", "0001-01-01", "x" * 100)
"""Inputs distinctive enough to tell if an answer quotes them."""


def _query_parameters(client: TestClient) -> Iterator[tuple[str, str]]:
    """(path, name) of every GET endpoint's query parameters: the API's from its OpenAPI
    document, the pages' from the document their routes would make (they are left out)."""
    shown = [copy.copy(route) for route in PAGES]
    for route in shown:
        route.include_in_schema = True
    api = client.get("/openapi.json").json()
    for spec in (api, get_openapi(title="pages", version="0", routes=shown)):
        for path, operations in spec["paths"].items():
            for parameter in operations.get("get", {}).get("parameters", []):
                if parameter["in"] == "query":
                    yield path, parameter["name"]


def test_hostile_query_parameters_are_named_and_refused_never_a_500(
    client: TestClient,
) -> None:
    root = bearer(client, "root")
    checked = set()
    for path, name in _query_parameters(client):
        url = url_of(path)
        for value in HOSTILE:
            answer = client.get(url, headers=root, params={name: value})
            assert answer.status_code < 500, (path, name, value, answer.text)
            if answer.status_code == 422:
                assert [name] == [e["loc"][-1] for e in answer.json()["detail"]], answer.text
            elif answer.status_code == 400:  # the console's filters: a time, an id misread
                assert f"invalid_filter</code>: {name}: " in answer.text or answer.json()[
                    "detail"
                ].startswith(f"{name}: "), answer.text
            if answer.status_code >= 400:  # a refusal names the field, never the value
                assert not [s for s in SHOWN if s in value and s in answer.text], (path, name)
            checked.add((path, name))
    assert len(checked) >= 25, sorted(checked)
    # Path parameters too.
    for path in ("/api/ops/messages/{}", "/api/ops/journey/{}", "/api/held/{}", "/held/{}"):
        for value in ("99999999999999999999", "%00", "-1", "0"):
            answer = client.get(path.format(value), headers=root)
            assert answer.status_code < 500, (path, value, answer.text)


def test_hostile_bodies_are_named_and_refused_never_a_500(client: TestClient) -> None:
    same = {"Origin": ORIGIN}
    login = client.post("/api/session", json={"user_id": "a\x00", "password": "x"}, headers=same)
    assert (login.status_code, login.json()["detail"][0]["loc"]) == (422, ["body", "user_id"])
    form = client.post("/login", data={"user_id": "a\x00", "password": "x"}, headers=same)
    assert (form.status_code, form.json()["detail"][0]["loc"]) == (422, ["body", "user_id"])
    doi = bearer(client, "doi")
    for field, value in [
        ("reason_code", "unroutable\x00"),
        ("kind", "\x1b[2J"),
        ("journal_seq", 10**20),
        ("since", "9999-12-31T23:59:59-23:59"),
        ("until", "0001-01-01T00:00:00+23:59"),
    ]:
        answer = client.post("/api/ops/redrive/preview", headers=doi, json={field: value})
        assert answer.status_code == 422, (field, answer.text)
        assert answer.json()["detail"][0]["loc"] == ["body", field]


# -- headers and host names --------------------------------------------------------


def test_every_answer_carries_a_strict_csp_and_personal_data_is_never_cached(
    client: TestClient,
) -> None:
    root = bearer(client, "root")
    for path in ("/api/held", "/api/session", "/held", "/login", "/ops", "/openapi.json", "/x"):
        answer = client.get(path, headers=root)
        csp = answer.headers["content-security-policy"]
        assert "default-src 'none'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "unsafe" not in csp
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["referrer-policy"] == "same-origin"
        assert answer.headers["cache-control"] == "no-store", path
        assert "strict-transport-security" not in answer.headers  # plain HTTP
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert client.get(path).status_code == 404  # no third-party script to load
    css = client.get("/static/desk.css")
    assert css.status_code == 200
    assert "no-store" not in css.headers.get("cache-control", "")
    over_https = TestClient(client.app, base_url="https://testserver").get("/healthz")
    assert over_https.headers["strict-transport-security"].startswith("max-age=")
    refused = client.post("/api/session", json={}, headers={"Origin": EVIL})
    assert refused.headers["content-security-policy"] == csp


def test_a_foreign_host_name_is_refused(client: TestClient) -> None:
    for host in ("evil.example", "evil.example:8080", "127.0.0.1.evil.example"):
        answer = client.get("/login", headers={"Host": host})
        assert answer.status_code == 400, host
        assert "content-security-policy" in answer.headers
    for host in ("127.0.0.1:8080", "localhost", "testserver"):
        assert client.get("/healthz", headers={"Host": host}).status_code == 200, host
