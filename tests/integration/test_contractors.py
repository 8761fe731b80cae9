"""Contractors at the desk (R23, F20, issue 15), over the HTTP API and the command line on
the real database: a contractor's account exists only with a roster entry and holds no
other role; it signs in only within the entry's days, and a session it holds stops at the
next request once they are over; it reaches the operator console's read-only views and is
refused (403) everywhere else; and every request it makes is audited, the company and the
period kept, the person's name never in a log or the audit log."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI

from hub.approvals import Role
from hub.desk import Desk, DeskError, Forbidden
from hub.desk.access import RosterEntry
from hub.service import open_desk
from hub.store.operations import RedriveSelection
from hub.web.app import create_app
from hub.web.contractors import CONTRACTOR_ROUTES
from tests.desk_web import UNKNOWN, route_templates, url_of
from tests.harness import CHIKUSEI, PASSWORD, Services
from tests.integration.test_desk_cli import ok, refused, sesshu
from tests.integration.test_desk_terminals import FAILED, audited
from tests.integration.test_login_attacks import Clock
from tests.probes import fetchval

pytestmark = pytest.mark.integration

ORIGIN = "http://testserver"
HERE = "127.0.0.1"
COMPANY = "Example Maintenance K.K."
PERSON = "田中 一郎"
JST = timezone(timedelta(hours=9))
DAY = timedelta(days=1)
NO_SESSION = {  # routes anyone may call: log-in, log-out, the health check, the way in
    ("POST", "/api/session"),
    ("DELETE", "/api/session"),
    ("GET", "/healthz"),
    ("GET", "/"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
}


def today(clock: Clock | None = None) -> date:
    """The desk's day (Japan time) on its clock: read when a test runs, never at import, so a
    suite that crosses midnight in Japan does not start an entry a day late."""
    return (clock() if clock else datetime.now(UTC)).astimezone(JST).date()


def roster(valid_from: date, valid_until: date, person: str = PERSON) -> RosterEntry:
    return RosterEntry(COMPANY, person, valid_from, valid_until)


class Site:
    """A desk process on the test's clock and an HTTP client at this machine."""

    def __init__(self, app: FastAPI, desk: Desk, clock: Clock, client: httpx2.AsyncClient) -> None:
        self.app, self.desk, self.clock, self.client = app, desk, clock, client
        self.today = today(clock)

    async def bearer(self, user: str) -> dict[str, str]:
        answer = await self.client.post(
            "/api/session", json={"user_id": user, "password": PASSWORD}
        )
        assert answer.status_code == 200, answer.text
        self.client.cookies.clear()
        return {"Authorization": f"Bearer {answer.json()['token']}"}


async def _contractor(desk: Desk, user: str, entry: RosterEntry) -> None:
    await desk.add_staff(
        user,
        roles=[Role.CONTRACTOR],
        municipality=CHIKUSEI,
        department="vendor-maintenance",
        password=PASSWORD,
        terminals=[HERE],
        roster=entry,
        actor="admin.chikusei",
    )


@pytest.fixture
async def site(services: Services, policy_dir: Path) -> AsyncIterator[Site]:
    settings = services.settings(SESSHU_ROUTING__POLICY_DIR=str(policy_dir))
    clock = Clock()
    desk = await open_desk(settings, clock=clock)
    try:
        day = today(clock)
        await _contractor(desk, "vendor.tanaka", roster(day - DAY, day + DAY))
        await desk.add_staff(
            "doi",
            roles=[Role.OPERATOR],
            municipality=CHIKUSEI,
            department="health-promotion",
            password=PASSWORD,
            terminals=[HERE],
        )
        app = create_app(settings, desk)
        transport = httpx2.ASGITransport(app=app, client=(HERE, 50000))
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(app.router.lifespan_context(app))
            client = await stack.enter_async_context(
                httpx2.AsyncClient(transport=transport, base_url=ORIGIN, headers={"Origin": ORIGIN})
            )
            yield Site(app, desk, clock, client)
    finally:
        await desk.store.close()


async def test_r23_a_contractor_works_only_within_its_roster_days(
    services: Services, site: Site
) -> None:
    day = site.today
    await _contractor(site.desk, "vendor.early", roster(day + DAY, day + 30 * DAY))
    await _contractor(site.desk, "vendor.late", roster(day - 30 * DAY, day - DAY))
    for user in ("vendor.early", "vendor.late"):
        answer = await site.client.post(
            "/api/session", json={"user_id": user, "password": PASSWORD}
        )
        assert (answer.status_code, answer.json()) == (401, FAILED)  # as any failed log-in
    tanaka = await site.bearer("vendor.tanaka")
    assert (await site.client.get("/api/session", headers=tanaka)).status_code == 200
    # Past the last day of its entry, the session stops at the next request, and is ended.
    site.clock.advance(2 * 86400)
    for _ in range(2):
        answer = await site.client.get("/api/ops/overview", headers=tanaka)
        assert (answer.status_code, answer.json()["code"]) == (401, "not_signed_in")
    again = await site.client.post(
        "/api/session", json={"user_id": "vendor.tanaka", "password": PASSWORD}
    )
    assert again.json() == FAILED
    failures = await audited(services, "login.failed")
    assert [(f["actor"], f["detail"]["reason"]) for f in failures] == [
        ("vendor.early", "roster_not_started"),
        ("vendor.late", "roster_expired"),
        ("vendor.tanaka", "roster_expired"),
    ]
    ended = await audited(services, "session.expired")
    assert [(e["subject"], e["detail"]) for e in ended] == [
        ("vendor.tanaka", {"reason": "roster_expired", "credential": "session"})
    ]


async def test_r23_a_contractor_is_refused_on_every_route_but_the_consoles_views(
    site: Site,
) -> None:
    tanaka = await site.bearer("vendor.tanaka")
    allowed, forbidden = [], []
    for method, template in route_templates(site.app):
        if (method, template) in NO_SESSION:
            continue
        answer = await site.client.request(method, url_of(template), headers=tanaka, json={})
        if (method, template) in CONTRACTOR_ROUTES:
            assert answer.status_code in (200, 404), (method, template, answer.text)
            allowed.append((method, template))
        else:
            assert answer.status_code == 403, (method, template, answer.text)
            if template.startswith("/api/"):
                assert answer.json()["code"] == "not_for_contractors"
            forbidden.append((method, template))
    assert set(allowed) == CONTRACTOR_ROUTES
    for route in [
        ("GET", "/api/held"),
        ("POST", "/api/held/{message_id}/approve"),
        ("POST", "/api/held/{message_id}/reject"),
        ("POST", "/api/held/{message_id}/reveal"),
        ("GET", "/api/audit"),
        ("GET", "/api/provision-records"),
        ("POST", "/api/ops/redrive"),
        ("POST", "/ops/redrive/confirm"),
        ("GET", "/held/{message_id}"),
    ]:
        assert route in forbidden, route
    # The desk's own role checks refuse the same (the command line goes through them).
    who = await site.desk.account("vendor.tanaka")
    with pytest.raises(Forbidden, match="not_an_approver"):
        await site.desk.held_list(who)
    with pytest.raises(Forbidden, match="not_an_auditor"):
        await site.desk.audit_search(who)
    with pytest.raises(Forbidden, match="not_an_operator"):
        await site.desk.redrive_preview(who, RedriveSelection(journal_seq=1))
    page = await site.client.get("/ops", headers=tanaka)
    assert page.status_code == 200
    assert 'data-testid="nav-ops"' in page.text


async def test_r23_every_request_of_a_contractor_is_audited_and_its_name_is_never_logged(
    services: Services, site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tanaka = await site.bearer("vendor.tanaka")
    get = site.client.get
    assert (await get("/api/ops/messages", headers=tanaka, params={"kind": "x"})).status_code == 200
    assert (await get("/api/ops/messages/1", headers=tanaka)).status_code == 404
    approve = f"/api/held/{UNKNOWN}/approve"
    assert (await site.client.post(approve, headers=tanaka, json={})).status_code == 403
    assert (await get("/api/ops/messages", headers=await site.bearer("doi"))).status_code == 200
    requests = await audited(services, "contractor.request")
    assert [(r["actor"], r["detail"], r["terminal"]["client"]) for r in requests] == [
        (
            "vendor.tanaka",
            {"method": "GET", "route": "/api/ops/messages", "params": {}, "status": 200},
            HERE,
        ),
        (
            "vendor.tanaka",
            {
                "method": "GET",
                "route": "/api/ops/messages/{seq}",
                "params": {"seq": "1"},
                "status": 404,
            },
            HERE,
        ),
        (
            "vendor.tanaka",
            {
                "method": "POST",
                "route": "/api/held/{message_id}/approve",
                "params": {"message_id": UNKNOWN},
                "status": 403,
            },
            HERE,
        ),
    ]
    (added,) = [
        a for a in await audited(services, "staff.added") if a["subject"] == "vendor.tanaka"
    ]
    assert added["actor"] == "admin.chikusei"
    assert added["detail"]["roster"] == {
        "company": COMPANY,
        "valid_from": (site.today - DAY).isoformat(),
        "valid_until": (site.today + DAY).isoformat(),
    }
    everything = await fetchval(
        services,
        "SELECT string_agg(detail::text || coalesce(terminal::text, ''), ' ') FROM audit_log",
    )
    assert PERSON not in everything
    assert PERSON not in caplog.text
    kept = await fetchval(services, "SELECT person FROM contractor_roster")
    assert kept == PERSON  # stored, for the roster


async def _refusals(services: Services) -> None:
    """What the desk refuses whichever door the account comes through."""
    desk = await open_desk(services.settings())
    day = today()
    try:
        refusals: list[tuple[dict[str, Any], str]] = [
            ({"roster": None}, "roster_required"),
            ({"roles": [Role.OPERATOR]}, "roster_for_contractors_only"),
            ({"roles": [Role.CONTRACTOR, Role.APPROVER]}, "contractor_roles"),
            ({"roles": [Role.CONTRACTOR, Role.ADMIN]}, "contractor_roles"),
            ({"roles": [Role.CONTRACTOR, Role.AUDITOR]}, "contractor_roles"),
            ({"password": None}, "contractor_account"),
            ({"may_reveal": True}, "contractor_account"),
            ({"roster": roster(day, day - DAY)}, "invalid_roster"),
        ]
        for changes, code in refusals:
            account: dict[str, Any] = {
                "roles": [Role.CONTRACTOR],
                "municipality": CHIKUSEI,
                "department": "vendor-maintenance",
                "password": PASSWORD,
                "terminals": [HERE],
                "roster": roster(day, day),
            }
            with pytest.raises(DeskError, match=code):
                await desk.add_staff("vendor.x", **(account | changes))
    finally:
        await desk.store.close()
    assert await fetchval(services, "SELECT count(*) FROM staff WHERE user_id = 'vendor.x'") == 0


def test_r23_a_contractor_needs_its_roster_entry_and_no_other_role(services: Services) -> None:
    asyncio.run(_refusals(services))

    def add(*options: str) -> Any:
        return sesshu(
            services,
            *("staff", "add", "vendor.sato", "--role", "contractor", "--municipality", CHIKUSEI),
            *("--department", "vendor-maintenance", "--terminal", HERE, "--password-stdin"),
            *options,
            stdin=PASSWORD + "\n",
        )

    entry = ("--company", COMPANY, "--person", "佐藤 花子")
    period = ("--valid-from", "2026-04-01", "--valid-until", "2026-09-30")
    refused(add(*period), "error: --company: ")
    refused(add("--company", COMPANY, *period), "error: --person: ")
    bad_day = refused(add(*entry, "--valid-from", "1 April", "--valid-until", "2026-09-30"))
    assert "--valid-from: a date, YYYY-MM-DD" in bad_day
    backwards = refused(add(*entry, "--valid-from", "2026-09-30", "--valid-until", "2026-04-01"))
    assert "--valid-until: must not be before --valid-from" in backwards
    named = refused(add("--company", COMPANY, "--person", "佐藤\x1b花子", *period), "--person: ")
    assert "佐藤" not in named
    refused(add(), "roster_required")
    refused(add(*entry, *period, "--role", "approver"), "contractor_roles")
    assert "added person vendor.sato: contractor" in ok(add(*entry, *period))
    listed = ok(sesshu(services, "staff", "list"))
    assert f"  roster {COMPANY}, 2026-04-01 to 2026-09-30" in listed
    assert "佐藤" not in listed
    with_names = ok(sesshu(services, "staff", "list", "--names"))
    assert f"  roster {COMPANY} (佐藤 花子), 2026-04-01 to 2026-09-30" in with_names
