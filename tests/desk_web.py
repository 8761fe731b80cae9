"""What the desk's HTTP tests under attack share (tests/integration/test_web_attacks.py,
test_web_input.py): the people, signing in as a browser on the desk's own page would,
and every route of the API and the pages."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from hub.approvals import Role
from hub.service import open_desk
from hub.web import ops, pages
from hub.web.app import create_app
from tests.harness import CHIKUSEI, PASSWORD, YUKI, Services

ORIGIN = "http://testserver"
"""The TestClient's origin: what a browser sends from the desk's own pages (the test
settings allow the host name `testserver`; the default does not)."""
EVIL = "https://evil.example"
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
                may_reveal=reveal,
            )
    finally:
        await desk.store.close()


def desk_client(services: Services, policy_dir: Path) -> Iterator[TestClient]:
    """A client of a desk app (not served) whose staff are PEOPLE: each test module's
    `client` fixture (`client = pytest.fixture(desk_client, name="client")`)."""
    asyncio.run(add_people(services, policy_dir))
    app = create_app(services.settings(SESSHU_ROUTING__POLICY_DIR=str(policy_dir)))
    with TestClient(app) as test_client:
        yield test_client


def bearer(client: TestClient, user: str) -> dict[str, str]:
    """Sign `user` in; the bearer token (the client keeps no cookie)."""
    answer = client.post(
        "/api/session", json={"user_id": user, "password": PASSWORD}, headers={"Origin": ORIGIN}
    )
    assert answer.status_code == 200, answer.text
    client.cookies.clear()
    return {"Authorization": f"Bearer {answer.json()['token']}"}


PAGES = [r for r in (*pages.router.routes, *ops.pages.routes) if isinstance(r, APIRoute)]
"""The pages' routes, which the OpenAPI document leaves out."""
IDS = {"{message_id}": UNKNOWN, "{seq}": "1", "{key}": UNKNOWN}


def url_of(path: str) -> str:
    """A URL for a route's path, an unknown id in it."""
    for placeholder, value in IDS.items():
        path = path.replace(placeholder, value)
    return path


def every_route(client: TestClient) -> Iterator[tuple[str, str]]:
    """(method, URL) of every route of the API and the pages (an unknown id in it)."""
    for path, operations in client.get("/openapi.json").json()["paths"].items():
        for method in operations:
            yield method.upper(), url_of(path)
    for route in PAGES:
        for method in sorted(route.methods or ()):
            yield method, url_of(route.path)
