"""The operator console's HTTP API and pages on the real hub, RabbitMQ and PostgreSQL:
throughput, queue depths from the management API (or "unavailable"), dead letters, the
journal browsed with filters and keyset paging, a message's journey, re-drive over the
API; operators only, metadata only."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from contracts.broker import INGRESS_QUEUE
from contracts.codes import SystemId
from hub.approvals import Role
from hub.service import open_desk
from hub.web.app import create_app
from tests.desk_web import TERMINALS, client_of
from tests.harness import CHIKUSEI, PASSWORD, YUKI, HubProcess, Services
from tests.ops import journal_seq, unroutable
from tests.probes import published, topology_ready, wait_for
from tests.traffic import provision, publish, signed_traffic

pytestmark = pytest.mark.integration
PEOPLE = [
    ("doi", [Role.OPERATOR], CHIKUSEI),
    ("ueda", [Role.OPERATOR], YUKI),
    ("aoki", [Role.APPROVER], CHIKUSEI),
    ("root", [Role.ADMIN], CHIKUSEI),
]


async def _setup(services: Services, policy_dir: Path) -> None:
    desk = await open_desk(services.settings(SESSHU_ROUTING__POLICY_DIR=str(policy_dir)))
    try:
        for user, roles, municipality in PEOPLE:
            await desk.add_staff(
                user,
                roles=roles,
                municipality=municipality,
                department="health-promotion",
                password=PASSWORD,
                terminals=TERMINALS,
            )
    finally:
        await desk.store.close()
    hub = HubProcess(services, extra_env={"SESSHU_ROUTING__POLICY_DIR": str(policy_dir)}).start()
    try:
        await wait_for(lambda: topology_ready(services), 30, "the hub's topology")
        traffic = signed_traffic(services, 6, senders=[(SystemId.HEALTH_MGMT, CHIKUSEI)])
        await publish(services.amqp_url, [body for _, body in traffic])
        await publish(services.amqp_url, [unroutable(services).to_bytes()])
        await journal_seq(services, "unroutable")
        reply = provision(services)
        await publish(services.amqp_url, [reply.to_bytes()])
        await journal_seq(services, "auto_response_disabled")
        await wait_for(lambda: published(services), 30, "everything published")
    finally:
        assert hub.stop() == 0, hub.log()


@pytest.fixture
def client(services: Services, policy_dir: Path) -> Iterator[TestClient]:
    asyncio.run(_setup(services, policy_dir))
    app = create_app(services.settings(SESSHU_ROUTING__POLICY_DIR=str(policy_dir)))
    with client_of(app) as test_client:
        yield test_client


def login(client: TestClient, user: str) -> dict[str, str]:
    response = client.post(
        "/api/session",
        json={"user_id": user, "password": PASSWORD},
        headers={"Origin": "http://testserver"},  # as a browser on the desk's page would
    )
    assert response.status_code == 200, response.text
    client.cookies.clear()
    return {"Authorization": f"Bearer {response.json()['token']}"}


def get(client: TestClient, path: str, who: dict[str, str], **params: Any) -> Any:
    response = client.get(path, headers=who, params=params)
    assert response.status_code == 200, (path, response.text)
    assert response.headers["cache-control"] == "no-store"
    return response.json()


def test_the_console_shows_throughput_queues_held_and_dead_letters(
    client: TestClient, services: Services, policy_dir: Path
) -> None:
    doi = login(client, "doi")
    overview = get(client, "/api/ops/overview", doi, window="1h")
    counts = {(t["kind"], t["decision"]): t["count"] for t in overview["throughput"]}
    assert counts[("resident_status_flag", "deliver")] == 6
    assert counts[("resident_status_flag", "reject")] == 1
    # Chikusei's operator: Yuki's held reply is not theirs.
    assert ("provision_response", "hold") not in counts
    assert overview["total"] == 7
    (dead,) = overview["dead_letters"]
    assert (dead["reason_code"], dead["count"], dead["redrivable"]) == ("unroutable", 1, True)
    queues = overview["queues"]
    assert queues["available"], queues
    assert queues["vhost"] == services.vhost
    # The management API refreshes its figures every few seconds (collect_statistics_interval).
    deadline = time.monotonic() + 30
    while True:
        depth = {q["name"]: q for q in get(client, "/api/ops/overview", doi)["queues"]["queues"]}
        if depth[f"adapter.vrs.{CHIKUSEI}"]["ready"] == 6 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert depth[INGRESS_QUEUE]["ready"] == 0
    assert depth[f"adapter.vrs.{CHIKUSEI}"]["ready"] == 6

    ueda = login(client, "ueda")
    theirs = get(client, "/api/ops/overview", ueda)
    assert theirs["held_total"] == 1
    assert theirs["held"][0]["kind"] == "provision_response"
    root = get(client, "/api/ops/overview", login(client, "root"))
    assert root["total"] == 8

    page = client.get("/ops", headers=doi)
    assert page.status_code == 200
    assert "adapter.vrs.082279" in page.text
    assert "unroutable" in page.text
    assert re.search(r"data-testid=\"redrive-reason-unroutable\"", page.text)


def test_queue_depths_are_unavailable_rather_than_failing(
    services: Services, policy_dir: Path
) -> None:
    asyncio.run(_people_only(services, policy_dir))
    settings = services.settings(
        SESSHU_ROUTING__POLICY_DIR=str(policy_dir),
        SESSHU_DESK__BROKER_API_URL="http://127.0.0.1:9",
        SESSHU_DESK__BROKER_API_TIMEOUT_SECONDS="0.5",
    )
    with client_of(create_app(settings)) as client:
        doi = login(client, "doi")
        queues = get(client, "/api/ops/overview", doi)["queues"]
        assert queues["available"] is False
        assert "does not answer" in queues["reason"]
        page = client.get("/ops", headers=doi)
        assert page.status_code == 200
        assert "unavailable" in page.text
    remote = services.settings(SESSHU_DESK__BROKER_API_URL="http://192.0.2.1:15672")
    with client_of(create_app(remote)) as client:
        queues = get(client, "/api/ops/overview", login(client, "doi"))["queues"]
        assert "plain http to another host is refused" in queues["reason"]


async def _people_only(services: Services, policy_dir: Path) -> None:
    desk = await open_desk(services.settings(SESSHU_ROUTING__POLICY_DIR=str(policy_dir)))
    try:
        await desk.add_staff(
            "doi",
            roles=[Role.OPERATOR],
            municipality=CHIKUSEI,
            department="ops",
            password=PASSWORD,
            terminals=TERMINALS,
        )
    finally:
        await desk.store.close()


def test_the_browser_filters_and_pages_by_keyset_and_opens_a_journey(
    client: TestClient,
) -> None:
    root = login(client, "root")
    everything = get(client, "/api/ops/messages", root, limit=200)["items"]
    assert len(everything) == 8
    seqs = [line["seq"] for line in everything]
    assert seqs == sorted(seqs, reverse=True)
    paged, after = [], None
    while True:
        params: dict[str, Any] = {"limit": 3} | ({"after": after} if after else {})
        page = get(client, "/api/ops/messages", root, **params)
        paged += [line["seq"] for line in page["items"]]
        after = page["next"]
        if after is None:
            break
    assert paged == seqs

    (refused,) = get(client, "/api/ops/messages", root, decision="reject")["items"]
    assert refused["reason_code"] == "unroutable"
    assert get(client, "/api/ops/messages", root, reason="unroutable")["items"] == [refused]
    by_id = get(client, "/api/ops/messages", root, message_id=refused["message_id"])["items"]
    assert by_id == [refused]
    flags = get(
        client, "/api/ops/messages", root, kind="resident_status_flag", sender="health_mgmt"
    )
    assert len(flags["items"]) == 7
    assert get(client, "/api/ops/messages", root, recipient="nws")["items"][0]["decision"] == "hold"
    later = get(client, "/api/ops/messages", root, since="2999-01-01T00:00")["items"]
    assert later == []
    bad = client.get("/api/ops/messages", headers=root, params={"message_id": "nope"})
    assert bad.status_code == 400
    assert bad.json()["code"] == "invalid_filter"

    message = get(client, f"/api/ops/messages/{refused['seq']}", root)
    assert message["message"]["reason_code"] == "unroutable"
    assert message["redrivable"] is True
    assert message["journey"]["messages"][0]["seq"] == refused["seq"]
    journey = get(client, f"/api/ops/journey/{refused['message_id']}", root)
    assert journey["messages"] == message["journey"]["messages"]
    html = client.get(f"/ops/messages/{refused['seq']}", headers=root).text
    assert refused["message_id"] in html
    assert "ciphertext" not in html
    listing = client.get("/ops/messages", headers=root, params={"decision": "reject"}).text
    assert f"/ops/messages/{refused['seq']}" in listing
    # Only operators re-drive (an admin reads); an operator dry-runs, then confirms.
    preview = client.post(
        "/api/ops/redrive/preview", headers=root, json={"journal_seq": refused["seq"]}
    )
    assert preview.status_code == 403
    doi = login(client, "doi")
    dry = client.post("/api/ops/redrive/preview", headers=doi, json={"reason_code": "unroutable"})
    assert dry.status_code == 200, dry.text
    assert (dry.json()["count"], dry.json()["by_reason"]) == (1, {"unroutable": 1})
    body = {"reason_code": "unroutable", "selection_sha256": dry.json()["selection_sha256"]}
    queued = client.post("/api/ops/redrive", headers=doi, json=body)
    assert queued.status_code == 200, queued.text
    assert queued.json()["journal_seqs"] == [refused["seq"]]
    again = client.post("/api/ops/redrive", headers=doi, json=body)
    assert (again.status_code, again.json()["code"]) == (409, "nothing_to_redrive")


def test_only_operators_and_admins_reach_the_console(client: TestClient) -> None:
    aoki = login(client, "aoki")
    for path in ("/api/ops/overview", "/api/ops/messages", "/api/ops/messages/1"):
        response = client.get(path, headers=aoki)
        assert (response.status_code, response.json()["code"]) == (403, "not_an_operator"), path
    response = client.post("/api/ops/redrive/preview", headers=aoki, json={"journal_seq": 1})
    assert response.status_code == 403
    page = client.get("/ops", headers=aoki)
    assert page.status_code == 403
    assert "not_an_operator" in page.text
    # Another city's operator does not see a row of Chikusei's.
    ueda = login(client, "ueda")
    seq = get(client, "/api/ops/messages", login(client, "root"), decision="reject")["items"][0][
        "seq"
    ]
    assert client.get(f"/api/ops/messages/{seq}", headers=ueda).status_code == 404
