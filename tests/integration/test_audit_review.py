"""The periodic review of the audit trail (R17, issue 15) on the real database: the desk's
report of a period (log-ins outside office hours, failed and locked-out log-ins, reveals
per account, refusals by reason, accounts unused for 90 days), an auditor's mark in the
chain that `audit verify` accepts, the CLI and the HTTP API and page, refused for anyone
but auditors and admins, and never a My Number or a name in a report or the audit log.

The desk runs on a clock the test sets to a weekday night in Japan, so its log-ins fall
outside office hours; reveals are appended to the chain as the desk writes them (a real
reveal needs a held message from a running hub: tests/integration/test_web_api.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from contracts.canonical import format_datetime
from hub.approvals import Role
from hub.desk import Desk, DeskError, Forbidden, Terminal
from hub.log_review import JST, Period, ReviewReport
from hub.service import open_desk
from tests.desk_web import ORIGIN, TERMINALS, add_people, bearer, desk_client
from tests.harness import PASSWORD, YUKI, Services
from tests.integration.test_desk_cli import sesshu
from tests.probes import fetchval

pytestmark = pytest.mark.integration

HERE = Terminal("127.0.0.1", "pytest")
MY_NUMBER = "123456789018"
NAME = "山田 太郎"
UNKNOWN = "019abf3c-2a00-7000-8000-000000000001"
client = pytest.fixture(desk_client, name="client")


def _weekday_night() -> datetime:
    """03:00 in Japan on the last Wednesday before today."""
    day = datetime.now(JST).date() - timedelta(days=1)
    while day.weekday() != 2:
        day -= timedelta(days=1)
    return datetime(day.year, day.month, day.day, 3, tzinfo=JST).astimezone(UTC)


class Clock:
    """The desk's clock, set by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def night(services: Services, policy_dir: Path) -> AsyncIterator[tuple[Desk, Clock]]:
    """A desk on a clock at a weekday's 03:00 in Japan, with PEOPLE and one account more."""
    await add_people(services, policy_dir)
    clock = Clock(_weekday_night())
    desk = await open_desk(
        services.settings(SESSHU_ROUTING__POLICY_DIR=str(policy_dir)), clock=clock
    )
    await desk.add_staff(
        "ueda",
        roles=[Role.OPERATOR],
        municipality=YUKI,
        department="somu",
        password=None,
        terminals=TERMINALS,
    )
    try:
        yield desk, clock
    finally:
        await desk.store.close()


async def _acts(services: Services, desk: Desk, clock: Clock) -> Period:
    """A night and a morning of acts at the desk; the period that holds them."""
    start = clock.now
    await desk.login("fujita", PASSWORD, HERE)  # 03:00: outside office hours
    for _ in range(6):  # five wrong passwords lock aoki at this address; the sixth is locked
        with pytest.raises(DeskError):
            await desk.login("aoki", "wrong password", HERE)
    with pytest.raises(DeskError):  # a My Number typed as the id, a name as the password
        await desk.login(MY_NUMBER, NAME, HERE)
    clock.now = start + timedelta(hours=7)  # 10:00 in Japan
    _, doi = await desk.login("doi", PASSWORD, HERE)
    _, aoki = await desk.login("aoki", PASSWORD, Terminal("127.0.0.1", "other"))
    _, endo = await desk.login("endo", PASSWORD, HERE)
    for refused in (
        desk.approve(doi, UNKNOWN, terminal=HERE),
        desk.reject(doi, UNKNOWN, terminal=HERE, comment=f"{NAME} {MY_NUMBER}"),
        desk.show(doi, UNKNOWN, HERE),
        desk.reveal(aoki, UNKNOWN, HERE),
        desk.reveal(doi, "not-a-uuid", HERE),
        desk.audit_search(doi, subject=NAME, terminal=HERE),
    ):
        with pytest.raises(DeskError):
            await refused
    await desk.audit_search(endo, subject=MY_NUMBER, terminal=HERE)
    for subject in ("019abf3c-2a00-7000-8000-00000000000a", "019abf3c-2a00-7000-8000-00000000000b"):
        async with desk.store.transaction() as tx:  # as hub.desk.viewing.reveal writes it
            await tx.audit(
                at=clock.now,
                actor="fujita",
                action="held.revealed",
                subject=subject,
                municipality=YUKI,
                terminal=HERE.as_dict(),
                detail={"fields": ["$.provision.my_number"]},
            )
    # ueda and fujita were made 100 days ago; fujita signed in since, ueda never.
    await fetchval(
        services,
        "UPDATE staff SET created_at = now() - interval '100 days' "
        "WHERE user_id IN ('ueda', 'fujita')",
    )
    return Period(start - timedelta(hours=1), start + timedelta(hours=12))


def _no_personal_data(report: ReviewReport) -> None:
    text = json.dumps(report.as_json(), ensure_ascii=False)
    assert MY_NUMBER not in text
    assert NAME not in text
    assert "山田" not in text


async def test_r17_the_review_lists_what_the_period_shows_and_the_mark_is_chained(
    services: Services, night: tuple[Desk, Clock]
) -> None:
    desk, clock = night
    period = await _acts(services, desk, clock)
    with pytest.raises(Forbidden, match="not_an_auditor"):
        await desk.review(await desk.account("doi"), period, HERE)
    endo = await desk.account("endo")
    report = await desk.review(endo, period, HERE)

    assert [(x.user_id, x.client) for x in report.outside_hours] == [("fujita", "127.0.0.1")]
    assert report.logins == 4
    failed = {(f.user_id, f.reason): f.tries for f in report.failed}
    assert failed == {("aoki", "bad_password"): 5, ("aoki", "locked_out"): 1}
    assert [f.locked for f in report.failed] == [False, True]
    assert [(r.user_id, r.reveals, r.messages) for r in report.reveals] == [("fujita", 2, 2)]
    refusals = {(r.action, r.code): r.times for r in report.refusals}
    assert refusals == {
        ("login.failed", "bad_password"): 5,
        ("login.failed", "locked_out"): 1,
        ("held.approval_refused", "not_an_approver"): 1,
        ("held.rejection_refused", "not_an_approver"): 1,
        ("held.view_refused", "not_an_approver"): 1,
        ("held.reveal_refused", "may_not_reveal"): 2,
        ("audit.search_refused", "not_an_auditor"): 1,
        ("audit.review_refused", "not_an_auditor"): 1,
    }
    assert [(u.user_id, u.kind, u.last_used) for u in report.unused] == [("ueda", "system", None)]
    assert report.marks == ()
    _no_personal_data(report)

    mark, again = await desk.mark_reviewed(endo, period, HERE)
    assert (mark.by, mark.scope, mark.period, mark.sha256) == ("endo", YUKI, period, report.sha256)
    assert again.marks == (mark,)
    assert again.unchanged
    assert again.reviewed == (mark,)
    with pytest.raises(DeskError, match="report_changed"):
        await desk.mark_reviewed(endo, period, HERE, sha256="0" * 64)

    count, finding = await desk.verify(services.ring())
    assert finding is None
    assert count > 20
    rows = [row async for row in desk.store.audit_rows()]
    marked = next(row for row in rows if row.seq == mark.seq)
    assert marked.action == "audit.reviewed"
    assert marked.detail["sha256"] == report.sha256
    assert marked.detail["since"] == format_datetime(period.since)
    searched = [row.detail for row in rows if row.action == "audit.searched"]
    assert searched
    assert searched[0]["subject"] == "<my-number>"
    everything = json.dumps([(r.actor, r.subject, r.detail) for r in rows], ensure_ascii=False)
    assert MY_NUMBER not in everything
    assert "山田" not in everything
    assert {row.action for row in rows} >= {"audit.review_viewed", "audit.review_refused"}


def test_r17_the_review_over_http_and_the_cli_is_the_auditors_and_refused_to_others(
    client: TestClient, services: Services
) -> None:
    assert client.get("/api/audit/review").status_code == 401
    assert client.post("/api/audit/review", json={}).status_code == 401
    doi = bearer(client, "doi")
    for answer in (
        client.get("/api/audit/review", headers=doi),
        client.post("/api/audit/review", json={}, headers=doi),
        client.get("/audit/review", headers=doi),
    ):
        assert answer.status_code == 403, answer.text
    assert "not_an_auditor" in client.get("/api/audit/review", headers=doi).text

    endo = bearer(client, "endo")
    for query in ("since=yesterday", "since=2026-01-02T00:00&until=2026-01-01T00:00"):
        bad = client.get(f"/api/audit/review?{query}", headers=endo)
        assert bad.status_code == 400, bad.text
        assert bad.json()["code"] == "invalid_filter"
    assert client.get("/api/audit/review?since=" + "7" * 50, headers=endo).status_code == 422
    until = format_datetime(datetime.now(UTC).replace(microsecond=0))
    shown = client.get(f"/api/audit/review?since=7d&until={until}", headers=endo)
    assert shown.status_code == 200
    assert shown.headers["cache-control"] == "no-store"
    body = shown.json()
    assert body["scope"] == YUKI
    assert body["marks"] == []
    assert not body["reviewed"]
    bounds = {"since": body["since"], "until": body["until"]}
    stale = client.post("/api/audit/review", json={**bounds, "sha256": "0" * 64}, headers=endo)
    assert stale.status_code == 409
    assert stale.json()["code"] == "report_changed"
    marked = client.post(
        "/api/audit/review", json={**bounds, "sha256": body["sha256"]}, headers=endo
    )
    assert marked.status_code == 200, marked.text
    assert marked.json()["mark"]["by"] == "endo"
    assert marked.json()["report"]["unchanged"]

    # The page, signed in with the cookie: the mark shows; the form needs its token and Origin.
    signed_in = client.post(
        "/api/session", json={"user_id": "endo", "password": PASSWORD}, headers={"Origin": ORIGIN}
    )
    assert signed_in.status_code == 200
    page = client.get("/audit/review", params=bounds)
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert 'data-testid="mark"' in page.text
    assert body["sha256"] in page.text
    form = {**bounds, "sha256": body["sha256"], "csrf": "wrong"}
    assert client.post("/audit/review", data=form).status_code == 403  # no Origin
    assert client.post("/audit/review", data=form, headers={"Origin": ORIGIN}).status_code == 403
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    done = client.post(
        "/audit/review",
        data={**form, "csrf": csrf},
        headers={"Origin": ORIGIN},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert "marked=" in done.headers["location"]
    _the_cli(services)


def _the_cli(services: Services) -> None:
    """`sesshu audit review`: refused to an operator, marks for an auditor, verified."""
    refused = sesshu(services, "audit", "review", "--as", "doi")
    assert refused.returncode == 2
    assert "not_an_auditor" in refused.stderr
    bad = sesshu(services, "audit", "review", "--since", "soon", "--as", "endo")
    assert bad.returncode == 2
    assert "--since" in bad.stderr
    until = format_datetime(datetime.now(UTC).replace(microsecond=0))
    shown = sesshu(services, "audit", "review", "--since", "7d", "--until", until, "--as", "endo")
    assert shown.returncode == 0, shown.stderr
    assert "log-ins: " in shown.stdout
    assert "sha256: " in shown.stdout
    marked = sesshu(
        services, "audit", "review", "--until", until, "--mark", "--json", "--as", "endo"
    )
    assert marked.returncode == 0, marked.stderr
    report = json.loads(marked.stdout)
    assert report["reviewed"]
    assert report["unchanged"]
    assert report["marks"][0]["by"] == "endo"
    verified = sesshu(services, "audit", "verify")
    assert verified.returncode == 0, verified.stdout
    assert verified.stdout.startswith("ok: ")
    again = sesshu(services, "audit", "review", "--until", until, "--as", "endo")
    assert "reviewed by endo" in again.stdout
    assert "this report" in again.stdout
