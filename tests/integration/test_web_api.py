"""The approval desk's HTTP API on the real database (and, for held messages, the real
hub): every endpoint authenticates, roles give 403 and another municipality's or
department's message 404 (as an unknown one), an approval over the API releases the
reply, and the pages refuse a form without the session's token. The desk under attack
(issue 15) is tests/integration/test_web_attacks.py."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from contracts.broker import adapter_queue
from contracts.codes import SystemId
from contracts.examples import example_payload
from contracts.payloads import ProvisionResponse, ReviewCopy, ReviewSubject, TransferOutProvision
from contracts.sealing import sealed_review
from hub.approvals import Role
from hub.service import open_desk
from hub.web.app import create_app
from tests.desk_web import TERMINALS, client_of
from tests.harness import CHIKUSEI, PASSWORD, YUKI, HubProcess, Services
from tests.probes import drain_queue, held, published, topology_ready, wait_for
from tests.traffic import provision, transfer_out

PEOPLE = [
    ("aoki", [Role.APPROVER], YUKI, "health-promotion", False),
    ("chiba", [Role.APPROVER], "082279", "health-promotion", False),
    ("doi", [Role.OPERATOR], YUKI, "health-promotion", False),
    ("endo", [Role.AUDITOR], YUKI, "audit", False),
    ("fujita", [Role.APPROVER], YUKI, "covid-vaccination", True),
]


async def _people(services: Services, policy_dir: Path) -> None:
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


@pytest.fixture
def client(services: Services, policy_dir: Path) -> Iterator[TestClient]:
    asyncio.run(_people(services, policy_dir))
    app = create_app(services.settings(SESSHU_ROUTING__POLICY_DIR=str(policy_dir)))
    with client_of(app) as test_client:
        yield test_client


SAME_ORIGIN = {"Origin": "http://testserver"}
"""What a browser sends with a log-in from the desk's own page (the TestClient's host)."""


def login(client: TestClient, user: str) -> dict[str, str]:
    response = client.post(
        "/api/session", json={"user_id": user, "password": PASSWORD}, headers=SAME_ORIGIN
    )
    assert response.status_code == 200, response.text
    client.cookies.clear()  # the tests use the bearer token, one client for many users
    return {"Authorization": f"Bearer {response.json()['token']}"}


def test_every_endpoint_answers_401_without_a_session(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    some_id = "019abf3c-2a00-7000-8000-000000000001"
    checked = []
    for path, operations in spec["paths"].items():
        for method in operations:
            if (method, path) in {("get", "/healthz"), ("post", "/api/session")}:
                continue
            url = path.replace("{message_id}", some_id)
            response = client.request(method.upper(), url, json={})
            assert response.status_code == 401, (method, path, response.text)
            assert response.json()["code"] == "not_signed_in"
            assert response.headers["www-authenticate"] == "Bearer"
            checked.append((method, path))
    assert len(checked) >= 8, checked
    bogus = {"Authorization": "Bearer not-a-token"}
    assert client.get("/api/held", headers=bogus).status_code == 401
    wrong = client.post(
        "/api/session",
        json={"user_id": "aoki", "password": "wrong password"},
        headers=SAME_ORIGIN,
    )
    assert wrong.status_code == 401
    assert wrong.json() == {
        "code": "login_failed",
        "detail": "user id or password is wrong, or the account is disabled or locked for a while",
    }


def test_roles_give_403_other_municipalities_404_and_bad_input_names_the_field(
    services: Services, client: TestClient, policy_dir: Path
) -> None:
    hub = HubProcess(services, extra_env={"SESSHU_ROUTING__POLICY_DIR": str(policy_dir)}).start()
    try:
        asyncio.run(wait_for(lambda: topology_ready(services), 30, "the hub's topology"))
        reply = transfer_out(services)
        asyncio.run(held(services, reply))
    finally:
        assert hub.stop() == 0, hub.log()
    url = f"/api/held/{reply.id}"
    doi, chiba, aoki, endo, fujita = (login(client, u) for u in PEOPLE_IDS)

    # 403 where the refusal says nothing of the message (the role, a list); where it would
    # tell whoever may not see it that it exists, 404 as for an unknown id (issue 15).
    cases = [
        ("GET", url, doi, None, 403, "not_an_approver"),
        ("GET", url, chiba, None, 404, "not_found"),
        ("GET", f"/api/held?municipality={YUKI}", chiba, None, 403, "wrong_municipality"),
        ("GET", "/api/held", doi, None, 403, "not_an_approver"),
        ("GET", "/api/held?department=covid-vaccination", aoki, None, 403, "wrong_department"),
        ("GET", url, aoki, None, 404, "not_found"),
        ("POST", f"{url}/approve", aoki, {"content_sha256": "0" * 64}, 404, "not_found"),
        ("POST", f"{url}/approve", doi, {"content_sha256": "0" * 64}, 403, "not_an_approver"),
        ("POST", f"{url}/reject", chiba, {"comment": "no"}, 404, "not_found"),
        ("POST", f"{url}/reveal", aoki, None, 403, "may_not_reveal"),
        ("GET", "/api/audit", doi, None, 403, "not_an_auditor"),
        ("GET", "/api/audit", aoki, None, 403, "not_an_auditor"),
        ("GET", "/api/provision-records", aoki, None, 403, "not_an_auditor"),
    ]
    for method, path, headers, body, status, code in cases:
        response = client.request(method, path, headers=headers, json=body)
        assert response.status_code == status, (method, path, code, response.text)
        assert response.json()["code"] == code

    assert client.get(url, headers=endo).status_code == 200  # auditors read content
    shown = client.get(url, headers=fujita)
    assert shown.status_code == 200
    assert shown.json()["masked_fields"]
    assert shown.headers["cache-control"] == "no-store"
    revealed = client.post(f"{url}/reveal", headers=fujita)
    assert revealed.status_code == 200
    assert all(re.fullmatch(r"[0-9]{12}", v) for v in revealed.json()["fields"].values())

    bad = client.post(f"{url}/approve", headers=fujita, json={"content_sha256": "xyz"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "content_sha256"]
    assert "xyz" not in bad.text  # the field and the reason, never the input
    number = next(iter(client.post(f"{url}/reveal", headers=fujita).json()["fields"].values()))
    leaky = client.post(f"{url}/reject", headers=fujita, json={"comment": f"wrong {number}"})
    assert leaky.status_code == 400
    assert leaky.json()["code"] == "invalid_comment"
    assert number not in leaky.text
    # However it is written: grouped by hyphens or spaces, in full-width digits (issue 15).
    wide = "".join(chr(0xFF10 + int(d)) for d in number)
    for written in (
        f"{number[:4]}-{number[4:8]}-{number[8:]}",
        f"{number[:4]} {number[4:8]} {number[8:]}",
        wide,
        f"{wide[:4]}－{wide[4:8]}－{wide[8:]}",
        f"{number[:4]}ー{number[4:8]}ー{number[8:]}",
    ):
        refused = client.post(f"{url}/reject", headers=fujita, json={"comment": f"x {written}"})
        assert refused.status_code == 400, written
        assert refused.json()["code"] == "invalid_comment"
        assert written not in refused.text
    changed = client.post(f"{url}/approve", headers=fujita, json={"content_sha256": "0" * 64})
    assert changed.status_code == 409
    assert changed.json()["code"] == "content_changed"
    missing = client.get("/api/held/not-a-uuid", headers=fujita)
    assert missing.status_code == 404
    audit = client.get("/api/audit", headers=endo, params={"subject": str(reply.id)})
    assert audit.status_code == 200
    assert number not in audit.text  # the refused comments' reason only, never their text
    # Newest first: each reveal, and each view (R17) with whether it showed the content (an
    # auditor sees the facts only; the approver the review copy).
    revealed_fields = {"fields": ["$.provision.my_number"]}
    # The refusals (R17) are there too, each with its reason; here only the acts.
    acts = [row for row in audit.json() if not row["action"].endswith("_refused")]
    assert [(row["actor"], row["action"], row["detail"]) for row in acts] == [
        ("fujita", "held.revealed", revealed_fields),
        ("fujita", "held.revealed", revealed_fields),
        ("fujita", "held.viewed", {"content": True}),
        ("endo", "held.viewed", {"content": False}),
    ]
    records = client.get("/api/provision-records", headers=endo)
    assert records.status_code == 200
    assert [(r["message_id"], r["state"]) for r in records.json()] == [(str(reply.id), "held")]


PEOPLE_IDS = ("doi", "chiba", "aoki", "endo", "fujita")


def test_an_approver_releases_a_reply_over_the_api_and_logs_out(
    services: Services, client: TestClient, policy_dir: Path
) -> None:
    hub = HubProcess(services, extra_env={"SESSHU_ROUTING__POLICY_DIR": str(policy_dir)}).start()
    try:
        asyncio.run(wait_for(lambda: topology_ready(services), 30, "the hub's topology"))
        reply = provision(services)
        asyncio.run(held(services, reply))
        aoki = login(client, "aoki")
        page = client.get("/api/held", headers=aoki).json()
        assert page["total"] == 1
        assert page["items"][0]["message_id"] == str(reply.id)
        shown = client.get(f"/api/held/{reply.id}", headers=aoki).json()
        approved = client.post(
            f"/api/held/{reply.id}/approve",
            headers=aoki,
            json={"comment": "checked", "content_sha256": shown["content_sha256"]},
        )
        assert approved.status_code == 200, approved.text
        assert approved.json()["state"] == "released"
        again = client.post(
            f"/api/held/{reply.id}/approve",
            headers=aoki,
            json={"content_sha256": shown["content_sha256"]},
        )
        assert again.status_code == 409
        assert again.json()["code"] == "not_held"
        asyncio.run(wait_for(lambda: published(services), 30, "the release to go out"))
    finally:
        assert hub.stop() == 0, hub.log()
    arrived = asyncio.run(drain_queue(services.amqp_url, adapter_queue(SystemId.NWS, YUKI)))
    assert reply.to_bytes() in [m.body for m in arrived]
    assert client.delete("/api/session", headers=aoki).status_code == 204
    assert client.get("/api/held", headers=aoki).status_code == 401


def test_pages_need_a_session_and_forms_need_its_token(client: TestClient) -> None:
    page = client.get("/held", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login"
    assert "ログイン" in client.get("/login").text
    failed = client.post(
        "/login", data={"user_id": "aoki", "password": "nope nope nope"}, headers=SAME_ORIGIN
    )
    assert failed.status_code == 401
    signed_in = client.post(
        "/login",
        data={"user_id": "aoki", "password": PASSWORD},
        headers=SAME_ORIGIN,
        follow_redirects=False,
    )
    assert signed_in.status_code == 303
    assert "httponly" in signed_in.headers["set-cookie"].lower()
    assert "samesite=strict" in signed_in.headers["set-cookie"].lower()
    queue = client.get("/held")
    assert queue.status_code == 200
    assert "Nothing is waiting" in queue.text
    assert queue.headers["content-security-policy"].startswith("default-src 'none'")
    forged = client.post("/logout", data={"csrf": "0" * 64}, headers=SAME_ORIGIN)
    assert forged.status_code == 403
    token = re.search(r'name="csrf" value="([0-9a-f]{64})"', queue.text)
    assert token is not None
    out = client.post(
        "/logout", data={"csrf": token.group(1)}, headers=SAME_ORIGIN, follow_redirects=False
    )
    assert out.status_code == 303
    assert client.get("/held", follow_redirects=False).status_code == 303


def test_the_session_cookie_is_secure_unless_turned_off(
    services: Services, policy_dir: Path
) -> None:
    asyncio.run(_people(services, policy_dir))
    settings = services.settings(SESSHU_DESK__SECURE_COOKIES="true")
    with client_of(create_app(settings)) as secure:
        answer = secure.post(
            "/api/session", json={"user_id": "aoki", "password": PASSWORD}, headers=SAME_ORIGIN
        )
        assert answer.status_code == 200
        assert "; secure" in answer.headers["set-cookie"].lower()


def test_failed_log_ins_lock_the_account_for_a_while(client: TestClient) -> None:
    for _ in range(5):
        wrong = client.post(
            "/api/session", json={"user_id": "aoki", "password": "x" * 12}, headers=SAME_ORIGIN
        )
        assert wrong.json()["code"] == "login_failed"
    locked = client.post(
        "/api/session", json={"user_id": "aoki", "password": PASSWORD}, headers=SAME_ORIGIN
    )
    assert locked.status_code == 401
    # Answered as an unknown id is (tests/integration/test_login_attacks.py has the rest).
    assert locked.json()["code"] == "login_failed"
    assert login(client, "fujita")  # other accounts are not affected


def test_a_review_copy_a_provider_wrote_is_shown_as_text_and_one_of_another_kind_not_at_all(
    services: Services, client: TestClient, policy_dir: Path
) -> None:
    # What the approver page shows of a review copy is the provider's writing: markup in a
    # name is shown as text, never run; a copy holding another provision than the envelope
    # carries, or sealed to another city's desk key, is not shown at all, and the reply
    # can then only be rejected.
    provided = example_payload("transfer_out_provision")
    assert isinstance(provided, TransferOutProvision)
    hostile = ReviewCopy(
        inquirer=CHIKUSEI,
        inquirer_system=SystemId.VRS,
        subject=ReviewSubject(reference="7001", name='<script>alert("x")</script> 花子'),
        provision=provided,
    )
    other = example_payload("provision_response")
    assert isinstance(other, ProvisionResponse)
    swapped = hostile.model_copy(update={"provision": other})
    hub = HubProcess(services, extra_env={"SESSHU_ROUTING__POLICY_DIR": str(policy_dir)}).start()
    try:
        asyncio.run(wait_for(lambda: topology_ready(services), 30, "the hub's topology"))
        marked, mismatched = (
            transfer_out(services, review=hostile),
            transfer_out(services, review=swapped),
        )
        genuine = transfer_out(services)
        elsewhere = services.signer(SystemId.VRS, YUKI).sign(
            genuine.model_copy(
                update={
                    "review": sealed_review(
                        hostile, services.ring(), CHIKUSEI, envelope_id=genuine.id
                    ),
                    "signature": None,
                }
            )
        )
        for each in (marked, mismatched, elsewhere):
            asyncio.run(held(services, each))
    finally:
        assert hub.stop() == 0, hub.log()
    fujita = login(client, "fujita")
    page = client.get(f"/held/{marked.id}", headers=fujita)
    assert page.status_code == 200, page.text
    assert "<script>" not in page.text
    assert "&lt;script&gt;" in page.text
    assert 'data-testid="approve"' in page.text
    unreadable = client.get(f"/api/held/{mismatched.id}", headers=fujita).json()
    assert unreadable["review"] is None
    assert unreadable["unreadable"] == "the review copy holds another kind of provision"
    assert 'data-testid="approve"' not in client.get(f"/held/{mismatched.id}", headers=fujita).text
    refused = client.post(
        f"/api/held/{mismatched.id}/approve", headers=fujita, json={"content_sha256": "0" * 64}
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "unreadable")
    misdirected = client.get(f"/api/held/{elsewhere.id}", headers=fujita).json()
    assert misdirected["review"] is None
    assert misdirected["unreadable"] == (
        "the review copy is not sealed to a desk key of the sender's municipality"
    )


def test_r01_the_manual_imports_are_an_operators_and_an_approvers_of_the_department(
    client: TestClient,
) -> None:
    # The flow itself, with the hub, is tests/integration/test_import_records.py.
    doi, aoki, endo = (login(client, u) for u in ("doi", "aoki", "endo"))
    for who in (doi, aoki):
        answer = client.get("/api/imports", headers=who)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"checks_needed": 2, "items": []}
    unknown = "019abf3c-2a00-7000-8000-0000000000aa"
    cases = [
        ("GET", "/api/imports", endo, None, 403, "not_an_operator"),
        ("POST", f"/api/imports/{unknown}/check", doi, None, 404, "not_found"),
        ("POST", "/api/imports/not-a-batch/check", doi, None, 404, "not_found"),
        ("POST", f"/api/imports/{unknown}/check", endo, None, 403, "not_an_operator"),
        ("POST", f"/api/imports/{unknown}/check", doi, {"rows": 0}, 422, None),
        ("POST", f"/api/imports/{unknown}/sign-off", aoki, {}, 404, "not_found"),
        ("POST", f"/api/imports/{unknown}/sign-off", doi, {}, 403, "not_an_approver"),
        ("POST", f"/api/imports/{unknown}/sign-off", aoki, {"comment": "x" * 501}, 422, None),
    ]
    for method, path, headers, body, status, code in cases:
        response = client.request(method, path, headers=headers, json=body)
        assert response.status_code == status, (method, path, code, response.text)
        if code is not None:
            assert response.json()["code"] == code
    page = client.get("/imports", headers=doi)
    assert page.status_code == 200
    assert "No manual import is waiting." in page.text
