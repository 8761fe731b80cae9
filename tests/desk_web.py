"""What the desk's HTTP tests share (tests/integration/test_web_attacks.py,
test_web_input.py, test_web_api.py, test_ops_api.py, test_desk_terminals.py,
test_contractors.py): the people, each with this machine's terminals, a test client at
one of them, signing in as a browser on the desk's own page would, and every route of
the API and the pages."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx2
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from hub.approvals import Role
from hub.service import open_desk
from hub.web import audit_review, ops, pages
from hub.web.app import create_app
from tests.harness import CHIKUSEI, PASSWORD, YUKI, Services

ORIGIN = "http://testserver"
"""The TestClient's origin: what a browser sends from the desk's own pages (the test
settings allow the host name `testserver`; the default does not)."""
EVIL = "https://evil.example"
CLIENT = ("127.0.0.1", 50000)
"""Where the test clients are: a real address (Starlette's TestClient says `testclient`,
which is no address and so on no account's list of terminals, R26/R27)."""
TERMINALS = ("127.0.0.1/32", "::1/128")
"""The terminals of the tests' accounts: this machine."""
UNKNOWN = "019abf3c-2a00-7000-8000-000000000001"
NOT_FOUND = {"code": "not_found", "detail": "no held message with that id"}
PEOPLE = [
    ("aoki", [Role.APPROVER], YUKI, "health-promotion", False),
    ("chiba", [Role.APPROVER], CHIKUSEI, "covid-vaccination", False),
    ("doi", [Role.OPERATOR], YUKI, "covid-vaccination", False),
    ("endo", [Role.AUDITOR], YUKI, "audit", False),
    ("fujita", [Role.APPROVER], YUKI, "covid-vaccination", True),
    ("root", [Role.ADMIN], YUKI, "somu", False),
]


async def add_people(services: Services, policy_dir: Path) -> None:
    """The accounts of PEOPLE, each with the harness's password."""
    desk = await open_desk(services.settings(SESSHU_ROUTING__POLICY_DIR=str(policy_dir)))
    try:
        for user, roles, municipality, department, reveal in PEOPLE:
            await desk.add_staff(
                user,
                roles=roles,
                municipality=municipality,
                department=department,
                password=PASSWORD,
                terminals=TERMINALS,
                may_reveal=reveal,
            )
    finally:
        await desk.store.close()


def client_of(app: FastAPI, base_url: str = ORIGIN) -> TestClient:
    """A TestClient of `app` at CLIENT (the accounts' terminal)."""
    return TestClient(app, base_url=base_url, client=CLIENT)


def desk_client(services: Services, policy_dir: Path) -> Iterator[TestClient]:
    """A client of a desk app (not served) whose staff are PEOPLE: each test module's
    `client` fixture (`client = pytest.fixture(desk_client, name="client")`)."""
    asyncio.run(add_people(services, policy_dir))
    app = create_app(services.settings(SESSHU_ROUTING__POLICY_DIR=str(policy_dir)))
    with client_of(app) as test_client:
        yield test_client


def bearer(client: TestClient, user: str) -> dict[str, str]:
    """Sign `user` in; the bearer token (the client keeps no cookie)."""
    answer = client.post(
        "/api/session", json={"user_id": user, "password": PASSWORD}, headers={"Origin": ORIGIN}
    )
    assert answer.status_code == 200, answer.text
    client.cookies.clear()
    return {"Authorization": f"Bearer {answer.json()['token']}"}


PAGES = [
    r
    for r in (*pages.router.routes, *ops.pages.routes, *audit_review.pages.routes)
    if isinstance(r, APIRoute)
]
"""The pages' routes, which the OpenAPI document leaves out."""
IDS = {"{message_id}": UNKNOWN, "{seq}": "1", "{key}": UNKNOWN, "{batch}": UNKNOWN}


def url_of(path: str) -> str:
    """A URL for a route's path, an unknown id in it."""
    for placeholder, value in IDS.items():
        path = path.replace(placeholder, value)
    return path


def route_templates(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(method, path template) of every route of the API and the pages."""
    for path, operations in app.openapi()["paths"].items():
        for method in operations:
            yield method.upper(), path
    for route in PAGES:
        for method in sorted(route.methods or ()):
            yield method, route.path


def every_route(client: TestClient) -> Iterator[tuple[str, str]]:
    """(method, URL) of every route of the API and the pages (an unknown id in it)."""
    for path, operations in client.get("/openapi.json").json()["paths"].items():
        for method in operations:
            yield method.upper(), url_of(path)
    for route in PAGES:
        for method in sorted(route.methods or ()):
            yield method, url_of(route.path)


class Addresses:
    """HTTP clients of the desk `app` at addresses of one's choice (R26/R27), each sending
    the desk's own Origin, kept open on `stack`."""

    def __init__(self, app: FastAPI, stack: AsyncExitStack) -> None:
        self.app, self._stack = app, stack
        self._clients: dict[str, httpx2.AsyncClient] = {}

    async def at(self, address: str) -> httpx2.AsyncClient:
        if address not in self._clients:
            transport = httpx2.ASGITransport(app=self.app, client=(address, 50000))
            client = httpx2.AsyncClient(
                transport=transport, base_url=ORIGIN, headers={"Origin": ORIGIN}
            )
            self._clients[address] = await self._stack.enter_async_context(client)
        return self._clients[address]

    async def login(self, address: str, user: str, password: str = PASSWORD) -> httpx2.Response:
        """Sign in from `address`; each request stands alone: the token is in the answer."""
        client = await self.at(address)
        answer = await client.post("/api/session", json={"user_id": user, "password": password})
        client.cookies.clear()
        return answer
