"""Log-in and use only from permitted terminals (R26/R27, issue 15), over the HTTP API and
the command line on the real database: a log-in from an address not on the account's
list is refused as any failed log-in is (same answer, same argon2 cost; the audit log
says `terminal_not_permitted`), an account with no terminal signs in nowhere, a session or
token used from elsewhere is unauthenticated there (and audited) while it lives on at its
own terminal, and terminals are added and removed, audited, with `sesshu staff`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx2
import pytest
from fastapi import FastAPI

from hub import staff
from hub.approvals import Role
from hub.desk import Desk, DeskError
from hub.service import open_desk
from hub.web.app import create_app
from tests.desk_web import Addresses
from tests.harness import PASSWORD, YUKI, Services
from tests.integration.test_desk_cli import ok, refused, sesshu
from tests.probes import fetchval

pytestmark = pytest.mark.integration

OFFICE = "10.20.30.0/24"
AT_OFFICE = "10.20.30.40"
ELSEWHERE = "203.0.113.9"
FAILED = {
    "code": "login_failed",
    "detail": "user id or password is wrong, or the account is disabled or locked for a while",
}
UNKNOWN = {"code": "not_signed_in", "detail": "the session or token is unknown or ended"}


class Floor(Addresses):
    """A desk process and HTTP clients at addresses of one's choice."""

    def __init__(self, app: FastAPI, desk: Desk, stack: AsyncExitStack) -> None:
        super().__init__(app, stack)
        self.desk = desk

    async def whoami(self, address: str, token: str) -> httpx2.Response:
        client = await self.at(address)
        return await client.get("/api/session", headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
async def floor(services: Services, policy_dir: Path) -> AsyncIterator[Floor]:
    settings = services.settings(SESSHU_ROUTING__POLICY_DIR=str(policy_dir))
    desk = await open_desk(settings)
    try:
        await desk.add_staff(
            "aoki",
            roles=[Role.APPROVER],
            municipality=YUKI,
            department="health-promotion",
            password=PASSWORD,
            terminals=[OFFICE],
        )
        app = create_app(settings, desk)
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(app.router.lifespan_context(app))
            yield Floor(app, desk, stack)
    finally:
        await desk.store.close()


async def audited(services: Services, action: str) -> list[dict[str, Any]]:
    """The audit rows of an action, in order (terminal and detail as dicts)."""
    connection = await asyncpg.connect(services.database_url)
    try:
        rows = await connection.fetch(
            "SELECT actor, subject, terminal, detail FROM audit_log WHERE action = $1 ORDER BY seq",
            action,
        )
    finally:
        await connection.close()
    return [
        {
            "actor": row["actor"],
            "subject": row["subject"],
            "terminal": json.loads(row["terminal"]) if row["terminal"] else None,
            "detail": json.loads(row["detail"]),
        }
        for row in rows
    ]


async def test_r26_a_log_in_from_an_unlisted_address_is_refused_like_any_failed_one(
    services: Services, floor: Floor, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed: list[str | None] = []
    check = staff.check_password

    def counted(stored: str | None, password: str) -> bool:
        hashed.append(stored)
        return check(stored, password)

    monkeypatch.setattr(staff, "check_password", counted)
    elsewhere = await floor.login(ELSEWHERE, "aoki")  # the right password, the wrong place
    wrong = await floor.login(AT_OFFICE, "aoki", "not the password")
    unknown = await floor.login(ELSEWHERE, "nobody")
    for answer in (elsewhere, wrong, unknown):
        assert (answer.status_code, answer.json()) == (401, FAILED)
    assert len(hashed) == 3  # argon2 ran for each: the same cost, whatever the reason
    assert (await floor.login(AT_OFFICE, "aoki")).status_code == 200
    mapped = await floor.login("::ffff:10.20.30.41", "aoki")  # dual-stack: the same office
    assert mapped.status_code == 200
    failures = await audited(services, "login.failed")
    assert [(f["actor"], f["detail"]["reason"], f["terminal"]["client"]) for f in failures] == [
        ("aoki", "terminal_not_permitted", ELSEWHERE),
        ("aoki", "bad_password", AT_OFFICE),
        ("unknown", "unknown_user", ELSEWHERE),
    ]


async def test_r26_an_account_with_no_terminal_signs_in_nowhere_until_one_is_added(
    services: Services, floor: Floor
) -> None:
    await floor.desk.add_staff(
        "baba",
        roles=[Role.APPROVER],
        municipality=YUKI,
        department="health-promotion",
        password=PASSWORD,
        terminals=[],
    )
    for address in (AT_OFFICE, "127.0.0.1"):
        assert (await floor.login(address, "baba")).json() == FAILED
    (added,) = [a for a in await audited(services, "staff.added") if a["subject"] == "baba"]
    assert added["detail"]["terminals"] == []
    failures = await audited(services, "login.failed")
    assert [f["detail"]["reason"] for f in failures] == ["no_terminal_registered"] * 2

    now = await floor.desk.change_terminals("baba", add=[OFFICE, "192.0.2.7"], actor="admin")
    assert [str(n) for n in now] == ["10.20.30.0/24", "192.0.2.7/32"]
    assert (await floor.login(AT_OFFICE, "baba")).status_code == 200
    with pytest.raises(DeskError, match="terminal_not_listed"):
        await floor.desk.change_terminals("baba", remove=["198.51.100.0/24"])
    with pytest.raises(DeskError, match="invalid_terminal") as bad:
        await floor.desk.change_terminals("baba", add=["Yamada Taro"])
    assert "Yamada" not in str(bad.value)
    with pytest.raises(DeskError, match="invalid_terminal"):
        await floor.desk.change_terminals("baba", add=["0.0.0.0/0"])  # every address
    await floor.desk.change_terminals("baba", remove=[OFFICE], actor="admin")
    assert (await floor.login(AT_OFFICE, "baba")).json() == FAILED
    changes = await audited(services, "staff.terminals.changed")
    assert [(c["actor"], c["detail"]) for c in changes] == [
        (
            "admin",
            {
                "added": [OFFICE, "192.0.2.7/32"],
                "removed": [],
                "terminals": [OFFICE, "192.0.2.7/32"],
            },
        ),
        ("admin", {"added": [], "removed": [OFFICE], "terminals": ["192.0.2.7/32"]}),
    ]


async def _used_a_minute_ago(services: Services, secret: str) -> datetime:
    used: datetime = await fetchval(
        services,
        "UPDATE sessions SET last_used_at = now() - interval '1 minute'"
        " WHERE token_sha256 = $1 RETURNING last_used_at",
        staff.secret_digest(secret),
    )
    return used


async def _last_used(services: Services, secret: str) -> datetime:
    used: datetime = await fetchval(
        services,
        "SELECT last_used_at FROM sessions WHERE token_sha256 = $1",
        staff.secret_digest(secret),
    )
    return used


async def test_r27_a_session_or_token_used_from_an_unlisted_address_is_unauthenticated(
    services: Services, floor: Floor
) -> None:
    session = (await floor.login(AT_OFFICE, "aoki")).json()["token"]
    await floor.desk.add_staff(
        "vendor-batch",
        roles=[Role.OPERATOR],
        municipality=YUKI,
        department="it",
        password=None,
        terminals=[OFFICE],
    )
    token = await floor.desk.issue_token("vendor-batch", label="nightly report", days=30)
    for secret in (session, token):
        used = await _used_a_minute_ago(services, secret)
        stolen = await floor.whoami(ELSEWHERE, secret)
        assert (stolen.status_code, stolen.json()) == (401, UNKNOWN)  # as an unknown one
        assert await _last_used(services, secret) == used  # a refused request is no use
        assert (await floor.whoami(AT_OFFICE, secret)).status_code == 200  # lives on there
        assert await _last_used(services, secret) > used
    bogus = await floor.whoami(ELSEWHERE, "not-a-token")
    assert bogus.json() == UNKNOWN
    refusals = await audited(services, "session.refused")
    assert [(r["actor"], r["detail"], r["terminal"]["client"]) for r in refusals] == [
        ("aoki", {"reason": "terminal_not_permitted", "credential": "session"}, ELSEWHERE),
        (
            "vendor-batch",
            {"reason": "terminal_not_permitted", "credential": "api_token"},
            ELSEWHERE,
        ),
    ]
    # Its terminal taken off the list, the session stops working at its next request.
    await floor.desk.change_terminals("aoki", add=["192.0.2.0/24"], remove=[OFFICE])
    assert (await floor.whoami(AT_OFFICE, session)).json() == UNKNOWN


def test_r26_sesshu_staff_registers_terminals_and_the_command_line_is_the_hosts_loopback(
    services: Services,
) -> None:
    def add(*options: str) -> Any:
        return sesshu(
            services,
            *("staff", "add", "endo", "--role", "auditor", "--municipality", YUKI),
            *("--department", "audit", "--password-stdin", *options),
            stdin=PASSWORD + "\n",
        )

    for bad in ("Yamada Taro", "10.20.30.1/24", "0.0.0.0/0"):
        error = refused(add("--terminal", bad), "error: --terminal: ")
        assert bad not in error
    assert "added person endo" in ok(add("--terminal", OFFICE, "--terminal", "::1"))
    # `sesshu audit search --as endo` signs in from this host: its loopback, 127.0.0.1.
    refused(sesshu(services, "audit", "search", "--as", "endo"), "error: login_failed: ")
    changed = ok(sesshu(services, "staff", "terminals", "endo", "--add", "127.0.0.1"))
    assert changed.strip() == f"terminals of endo: {OFFICE}, 127.0.0.1/32, ::1/128"
    assert ok(sesshu(services, "audit", "search", "--as", "endo")).startswith("4 row(s)")
    removed = ok(sesshu(services, "staff", "terminals", "endo", "--remove", "::1/128"))
    assert removed.strip() == f"terminals of endo: {OFFICE}, 127.0.0.1/32"
    refused(
        sesshu(services, "staff", "terminals", "endo", "--remove", "192.0.2.0/24"),
        "terminal_not_listed",
    )
    refused(sesshu(services, "staff", "terminals", "endo", "--add", "Yamada"), "--add: ")
    listed = ok(sesshu(services, "staff", "list"))
    assert f"  terminals {OFFICE}, 127.0.0.1/32" in listed
    no_terminal = sesshu(
        services,
        *("staff", "add", "fujita", "--role", "approver", "--municipality", YUKI),
        *("--department", "health-promotion", "--password-stdin"),
        stdin=PASSWORD + "\n",
    )
    assert "cannot sign in until one is added" in no_terminal.stderr
    assert "  terminals none" in ok(sesshu(services, "staff", "list"))
