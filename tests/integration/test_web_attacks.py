"""The desk under attack (issue 15), over HTTP on the real database: a body too large is
refused before it is read, another city's (or department's) held message answers as a
made-up id does, the held queue is its approvers', and a state-changing request a browser
could be made to send from another site must name the desk's own origin. Hostile input,
headers and host names: tests/integration/test_web_input.py."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import select
import socket
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hub.desk.common import COMMENT_MAX
from hub.settings import DeskSettings
from hub.web.app import create_app
from tests.desk_web import (
    EVIL,
    NOT_FOUND,
    ORIGIN,
    UNKNOWN,
    bearer,
    desk_client,
    every_route,
)
from tests.harness import PASSWORD, HubProcess, Services, free_ports
from tests.probes import held, topology_ready, wait_for
from tests.traffic import transfer_out

pytestmark = pytest.mark.integration


client = pytest.fixture(desk_client, name="client")


@pytest.fixture
def held_id(services: Services, policy_dir: Path) -> str:
    """A transfer-out provision of Yuki's held for its covid-vaccination department."""
    hub = HubProcess(services, extra_env={"SESSHU_ROUTING__POLICY_DIR": str(policy_dir)}).start()
    try:
        asyncio.run(wait_for(lambda: topology_ready(services), 30, "the hub's topology"))
        reply = transfer_out(services)
        asyncio.run(held(services, reply))
    finally:
        assert hub.stop() == 0, hub.log()
    return str(reply.id)


# -- 1. bodies ------------------------------------------------------------------------


def test_a_body_over_the_limit_is_refused_at_once_on_every_route(client: TestClient) -> None:
    limit = DeskSettings().max_body_bytes
    huge = b'{"user_id": "' + b"a" * (48 * 1024 * 1024) + b'", "password": "x"}'
    answer = client.post(
        "/api/session",
        content=huge,
        headers={"Content-Type": "application/json", "Origin": ORIGIN},
    )
    assert answer.status_code == 413
    aoki = bearer(client, "aoki")
    checked = []
    for method, url in every_route(client):
        response = client.request(method, url, content=b"x" * (limit + 1), headers=aoki)
        assert response.status_code == 413, (method, url, response.text)
        checked.append((method, url))
    assert len(checked) >= 25, checked
    # At once: a route that reads no body is not run either; the session lives on.
    big = {"Content-Length": str(limit + 1)}
    assert client.request("DELETE", "/api/session", headers=aoki | big).status_code == 413
    assert client.get("/api/session", headers=aoki).status_code == 200
    # The largest body a person sends passes: a rejection of COMMENT_MAX characters, each
    # a character outside the BMP that JSON writes as two \\u escapes.
    comment = "𠮷" * COMMENT_MAX
    assert len(json.dumps({"comment": comment})) > 6 * COMMENT_MAX
    reject = client.post(f"/api/held/{UNKNOWN}/reject", headers=aoki, json={"comment": comment})
    assert (reject.status_code, reject.json()) == (404, NOT_FOUND)


async def _post_chunks(
    app: FastAPI, path: str, kind: bytes, chunk: bytes
) -> tuple[int | None, int]:
    """POST an endless chunked body (no Content-Length) straight into the application, a
    form field's head and then `chunk` after `chunk`: its status and how many bytes of the
    body it read."""
    read, status = 0, None
    head = b'--x\r\nContent-Disposition: form-data; name="kind"\r\n\r\n'
    chunks = itertools.chain(
        [head if kind.startswith(b"multipart/") else b""], itertools.repeat(chunk)
    )

    async def receive() -> dict[str, Any]:
        nonlocal read
        body = next(chunks)
        read += len(body)
        return {"type": "http.request", "body": body, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"origin", ORIGIN.encode()),
            (b"content-type", kind),
            (b"transfer-encoding", b"chunked"),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)  # type: ignore[arg-type]
    return status, read


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/api/session", b"application/json"),
        ("/login", b"application/x-www-form-urlencoded"),
        (f"/api/held/{UNKNOWN}/reject", b"application/json"),
        ("/ops/redrive", b"multipart/form-data; boundary=x"),
    ],
)
def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(
    client: TestClient, path: str, kind: bytes
) -> None:
    limit = DeskSettings().max_body_bytes
    chunk = b"a" * 4096
    app = client.app
    status, read = asyncio.run(_post_chunks(app, path, kind, chunk))  # type: ignore[arg-type]
    assert status == 413
    assert limit < read <= limit + 2 * len(chunk)


def test_a_served_desk_answers_a_chunked_body_413_midway(
    services: Services, policy_dir: Path
) -> None:
    settings = services.settings(SESSHU_ROUTING__POLICY_DIR=str(policy_dir))
    port = free_ports()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_config=None)
    server = uvicorn.Server(config)
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    try:
        asyncio.run(wait_for(_started(server), 30, "the desk to listen"))
        sent, answer = _send_chunked(port, 48 * 1024 * 1024)
    finally:
        server.should_exit = True
        serving.join(30)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert sent < 1024 * 1024  # of 48 MiB: cut off just past the limit


def _started(server: uvicorn.Server) -> Callable[[], Awaitable[bool]]:
    async def started() -> bool:
        return server.started

    return started


def _send_chunked(port: int, most: int) -> tuple[int, bytes]:
    """Send a chunked log-in body of up to `most` bytes until the desk answers; how much
    went, and the start of the answer."""
    chunk = b"a" * 16384
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(
            b"POST /api/session HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
            b"Origin: http://127.0.0.1:%d\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" % (port, port)
        )
        with contextlib.suppress(OSError):  # the desk may close before all of it went
            while sent < most and not select.select([connection], [], [], 0.005)[0]:
                connection.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        return sent, connection.recv(64)


# -- 2. existence ---------------------------------------------------------------------

BY_ID = [
    ("GET", "", None),
    ("POST", "/approve", {"content_sha256": "0" * 64}),
    ("POST", "/reject", {"comment": "no"}),
    ("POST", "/reveal", None),
]


def test_another_citys_or_departments_message_answers_as_an_unknown_id(
    client: TestClient, held_id: str
) -> None:
    for user in ("chiba", "aoki"):  # another city's approver; another department's
        who = bearer(client, user)
        for method, suffix, body in BY_ID:
            answers = [
                client.request(method, f"/api/held/{mid}{suffix}", headers=who, json=body)
                for mid in (held_id, UNKNOWN)
            ]
            seen = [(a.status_code, a.json()) for a in answers]
            assert seen[0] == seen[1], (user, method, suffix, seen)
            if suffix != "/reveal":  # neither may reveal: 403 for any id, before it is looked up
                assert seen[0] == (404, NOT_FOUND), (user, method, suffix)
        pages = [client.get(f"/held/{mid}", headers=who) for mid in (held_id, UNKNOWN)]
        assert [p.status_code for p in pages] == [404, 404], user
        assert pages[0].text == pages[1].text
    # Refusals that do not depend on the message stay 403, for a real id and an unknown one.
    doi, aoki = bearer(client, "doi"), bearer(client, "aoki")
    for mid in (held_id, UNKNOWN):
        shown = client.get(f"/api/held/{mid}", headers=doi)
        assert (shown.status_code, shown.json()["code"]) == (403, "not_an_approver")
        approve = client.post(f"/api/held/{mid}/approve", headers=doi, json=BY_ID[1][2])
        assert (approve.status_code, approve.json()["code"]) == (403, "not_an_approver")
        reveal = client.post(f"/api/held/{mid}/reveal", headers=aoki)
        assert (reveal.status_code, reveal.json()["code"]) == (403, "may_not_reveal")


# -- 3. the held queue ----------------------------------------------------------------


def test_the_held_queue_answers_403_to_other_roles_and_departments(
    client: TestClient, held_id: str
) -> None:
    doi = bearer(client, "doi")
    refused = client.get("/api/held", headers=doi)
    assert (refused.status_code, refused.json()["code"]) == (403, "not_an_approver")
    aoki = bearer(client, "aoki")
    other = client.get("/api/held", headers=aoki, params={"department": "covid-vaccination"})
    assert (other.status_code, other.json()["code"]) == (403, "wrong_department")
    assert client.get("/api/held", headers=aoki).json()["total"] == 0  # their own: none
    for user in ("fujita", "endo", "root"):  # its approver; an auditor, an admin: any
        listed = client.get("/api/held", headers=bearer(client, user))
        assert [i["message_id"] for i in listed.json()["items"]] == [held_id], user
    # The page says so to an operator, and leads to the console.
    page = client.get("/held", headers=doi)
    assert page.status_code == 403
    assert "not_an_approver" in page.text
    assert 'data-testid="nav-ops"' in page.text


# -- 4. cross-site requests -----------------------------------------------------------

FORGED = [{"Origin": EVIL}, {"Origin": "null"}, {"Referer": f"{EVIL}/held"}, {}]


def test_a_state_changing_request_a_browser_could_forge_must_come_from_the_desk(
    client: TestClient, held_id: str
) -> None:
    credentials = {"user_id": "fujita", "password": PASSWORD}
    for headers in FORGED:  # log-in CSRF: another site's form signs nobody in
        for answer in (
            client.post("/login", data=credentials, headers=headers, follow_redirects=False),
            client.post("/api/session", json=credentials, headers=headers),
        ):
            assert (answer.status_code, answer.json()["code"]) == (403, "cross_origin"), headers
            assert "set-cookie" not in answer.headers
    signed_in = client.post(
        "/login", data=credentials, headers={"Origin": ORIGIN}, follow_redirects=False
    )
    assert signed_in.status_code == 303
    reveal = f"/api/held/{held_id}/reveal"
    for headers in FORGED:  # the cookie alone, from elsewhere: nothing revealed
        forged = client.post(reveal, headers=headers)
        assert (forged.status_code, forged.json()["code"]) == (403, "cross_origin"), headers
        assert client.delete("/api/session", headers=headers).status_code == 403
    assert client.get("/api/session").status_code == 200  # still signed in
    assert client.post(reveal, headers={"Origin": ORIGIN}).status_code == 200
    assert client.post(reveal, headers={"Referer": f"{ORIGIN}/held/{held_id}"}).status_code == 200
    assert client.post(reveal, headers={"Origin": "http://testserver:8080"}).status_code == 403
    # A bearer token alone is no browser's doing.
    token = bearer(client, "fujita")
    assert client.post(reveal, headers=token | {"Origin": EVIL}).status_code == 200
