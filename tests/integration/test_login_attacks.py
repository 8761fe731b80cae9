"""The desk's log-in under attack (issue 15), over the HTTP API on the real database: tries
made during a lock do not extend it, nor do tries made all at once outrun it; an attacker
at one address locks out that address and not the approver at their own terminal; many
addresses lock an account for strangers only; a locked account answers as an unknown id
does (at the same argon2 cost, the audit log keeping the true reason); and a session left
unused ends while an API token does not.

Each desk runs on a clock the test moves (the throttle reads the audit log's times, which
the desk writes with its clock); the idle timeout runs on the database's clock, so those
tests move a session's last use back instead."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx2
import pytest
from fastapi import FastAPI

from hub import staff
from hub.approvals import Role
from hub.desk import Desk
from hub.desk.throttle import LOCKOUT_SECONDS
from hub.service import open_desk
from hub.web.app import create_app
from tests.desk_web import Addresses
from tests.harness import PASSWORD, YUKI, Services
from tests.probes import fetchval

pytestmark = pytest.mark.integration

ATTACKER = "203.0.113.66"
APPROVERS_DESK = "192.0.2.10"
WRONG = "not the password"
REFUSED = {  # every failed log-in, whatever the reason, as long as its address is not locked
    "code": "login_failed",
    "detail": "user id or password is wrong, or the account is disabled or locked for a while",
}
CLIENT_LOCKED = {
    "code": "too_many_attempts",
    "detail": "too many failed log-ins from this address; try again in 15 minutes",
}
PEOPLE = [("aoki", "health-promotion"), ("fujita", "covid-vaccination")]
TERMINALS = ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
"""Every address these tests sign in from is one of the accounts' terminals: the throttle
is for guessers on the permitted networks (from elsewhere no password gets in at all:
tests/integration/test_desk_terminals.py)."""


class Clock:
    """The desk's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Hall(Addresses):
    """A desk process on the test's clock and HTTP clients at addresses of one's choice."""

    def __init__(self, app: FastAPI, clock: Clock, stack: AsyncExitStack) -> None:
        super().__init__(app, stack)
        self.clock = clock


async def _people(desk: Desk) -> None:
    for user, department in PEOPLE:
        await desk.add_staff(
            user,
            roles=[Role.APPROVER],
            municipality=YUKI,
            department=department,
            password=PASSWORD,
            terminals=TERMINALS,
        )


@pytest.fixture
async def hall(services: Services, policy_dir: Path) -> AsyncIterator[Hall]:
    settings = services.settings(SESSHU_ROUTING__POLICY_DIR=str(policy_dir))
    clock = Clock()
    desk = await open_desk(settings, clock=clock)
    try:
        await _people(desk)
        app = create_app(settings, desk)
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(app.router.lifespan_context(app))
            yield Hall(app, clock, stack)
    finally:
        await desk.store.close()


async def _reasons(services: Services, client: str) -> list[str]:
    """The audited reason of each failed log-in from a client address, in order."""
    connection = await asyncpg.connect(services.database_url)
    try:
        rows = await connection.fetch(
            "SELECT detail FROM audit_log WHERE action = 'login.failed'"
            " AND terminal->>'client' = $1 ORDER BY seq",
            client,
        )
    finally:
        await connection.close()
    return [json.loads(row["detail"])["reason"] for row in rows]


async def test_tries_made_during_a_lock_do_not_extend_it(services: Services, hall: Hall) -> None:
    for _ in range(5):
        assert (await hall.login(ATTACKER, "aoki", WRONG)).json() == REFUSED
        hall.clock.advance(1)
    caused = hall.clock.now - timedelta(seconds=1)  # the fifth failure locked the account
    # One try every three minutes, the right password even: each is refused, none counts.
    for _ in range(4):
        hall.clock.advance(180)
        assert (await hall.login(ATTACKER, "aoki", PASSWORD)).json() == REFUSED
    hall.clock.now = caused + timedelta(seconds=LOCKOUT_SECONDS - 1)
    assert (await hall.login(ATTACKER, "aoki", PASSWORD)).json() == REFUSED
    hall.clock.now = caused + timedelta(seconds=LOCKOUT_SECONDS + 1)
    assert (await hall.login(ATTACKER, "aoki", PASSWORD)).status_code == 200
    assert await _reasons(services, ATTACKER) == ["bad_password"] * 5 + ["locked_out"] * 5


async def test_a_burst_of_guesses_at_once_is_decided_one_after_another(
    services: Services, hall: Hall
) -> None:
    # Twelve at once: argon2 runs for each in parallel, but each is decided under the audit
    # chain's lock, counting those decided before it. (All wrong: which of a burst is
    # decided first is the scheduler's, so a right password in it could come first.)
    answers = await asyncio.gather(*(hall.login(ATTACKER, "aoki", WRONG) for _ in range(12)))
    assert all(answer.status_code == 401 for answer in answers)
    reasons = await _reasons(services, ATTACKER)
    assert Counter(reasons) == {"bad_password": 5, "locked_out": 5, "client_locked_out": 2}
    # And the right password after them is refused as well: the locks hold.
    assert (await hall.login(ATTACKER, "aoki", PASSWORD)).status_code == 401


async def test_an_attacker_at_one_address_locks_out_that_address_not_the_approver(
    services: Services, hall: Hall
) -> None:
    # An hour of guessing at one account from one address, a try every three minutes,
    # then a burst at every account: the approver logs in from their own desk throughout.
    for _ in range(20):
        answer = await hall.login(ATTACKER, "aoki", WRONG)
        assert answer.status_code == 401
        assert answer.json() == REFUSED
        assert (await hall.login(APPROVERS_DESK, "aoki", PASSWORD)).status_code == 200
        hall.clock.advance(180)
    answers = [(await hall.login(ATTACKER, user, WRONG)).json() for user, _ in PEOPLE * 6]
    assert answers[-1] == CLIENT_LOCKED  # the address, for every account
    assert (await hall.login(ATTACKER, "fujita", PASSWORD)).json() == CLIENT_LOCKED
    for user, _ in PEOPLE:
        assert (await hall.login(APPROVERS_DESK, user, PASSWORD)).status_code == 200
    assert "client_locked_out" in await _reasons(services, ATTACKER)
    assert await _reasons(services, APPROVERS_DESK) == []


async def test_many_addresses_lock_an_account_for_strangers_not_at_its_own_terminals(
    hall: Hall,
) -> None:
    assert (await hall.login(APPROVERS_DESK, "aoki", PASSWORD)).status_code == 200
    hall.clock.advance(3600)
    botnet = [f"198.51.100.{i}" for i in range(1, 6)]
    for _ in range(4):  # four each: under the lock of one account at one address
        for address in botnet:
            assert (await hall.login(address, "aoki", WRONG)).json() == REFUSED
    # Twenty failures from anywhere: a new address is refused even the right password...
    assert (await hall.login("198.51.100.99", "aoki", PASSWORD)).json() == REFUSED
    assert (await hall.login("198.51.100.99", "fujita", PASSWORD)).status_code == 200
    # ...but where aoki logged in before, aoki still can.
    assert (await hall.login(APPROVERS_DESK, "aoki", PASSWORD)).status_code == 200
    hall.clock.advance(LOCKOUT_SECONDS + 1)
    assert (await hall.login("198.51.100.99", "aoki", PASSWORD)).status_code == 200


async def test_a_locked_account_answers_as_an_unknown_id_does_at_the_same_cost(
    services: Services, hall: Hall, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str | None] = []
    check = staff.check_password

    def counted(stored: str | None, password: str) -> bool:
        checked.append(stored)
        return check(stored, password)

    monkeypatch.setattr(staff, "check_password", counted)

    async def tries(address: str, user: str) -> tuple[list[tuple[int, Any]], int]:
        before = len(checked)
        answers = []
        for password in [WRONG] * 5 + [PASSWORD] * 7:
            answer = await hall.login(address, user, password)
            answers.append((answer.status_code, answer.json()))
        return answers, len(checked) - before

    known, known_hashed = await tries("198.51.100.1", "aoki")
    unknown, unknown_hashed = await tries("198.51.100.2", "nobody")
    assert known == unknown
    assert known[5] == (401, REFUSED)  # the account is locked here, and it does not say so
    assert known[-1] == (401, CLIENT_LOCKED)  # the address is, and it may say so
    # argon2 ran as often for both (against a stand-in hash for the unknown id, made
    # with today's parameters), and not at all once the address was locked.
    assert known_hashed == unknown_hashed == 10
    assert None in checked
    assert await _reasons(services, "198.51.100.1") == (
        ["bad_password"] * 5 + ["locked_out"] * 5 + ["client_locked_out"] * 2
    )
    assert await _reasons(services, "198.51.100.2") == (
        ["unknown_user"] * 10 + ["client_locked_out"] * 2
    )


async def _last_used(services: Services, token: str) -> datetime:
    used: datetime = await fetchval(
        services,
        "SELECT last_used_at FROM sessions WHERE token_sha256 = $1",
        staff.secret_digest(token),
    )
    return used


async def _unused_for(services: Services, token: str, seconds: float) -> None:
    await fetchval(
        services,
        "UPDATE sessions SET last_used_at = now() - make_interval(secs => $2::float8)"
        " WHERE token_sha256 = $1",
        staff.secret_digest(token),
        seconds,
    )


async def test_a_session_left_unused_ends_and_one_in_use_lives_on(
    services: Services, hall: Hall
) -> None:
    desk = await hall.at(APPROVERS_DESK)

    async def whoami(token: str) -> httpx2.Response:
        return await desk.get("/api/session", headers={"Authorization": f"Bearer {token}"})

    idle = (await hall.login(APPROVERS_DESK, "aoki", PASSWORD)).json()["token"]
    busy = (await hall.login(APPROVERS_DESK, "fujita", PASSWORD)).json()["token"]
    await _unused_for(services, idle, 15 * 60 + 1)
    await _unused_for(services, busy, 15 * 60 - 30)
    for _ in range(2):
        answer = await whoami(idle)
        assert answer.status_code == 401
        assert answer.json()["code"] == "not_signed_in"
    assert (await whoami(busy)).status_code == 200
    # Used, it is marked used: the idle time starts again (at most one write per few
    # seconds, so two requests at once mark it once).
    marked = await _last_used(services, busy)
    assert marked > datetime.now(UTC) - timedelta(minutes=1)
    assert (await whoami(busy)).status_code == 200
    assert await _last_used(services, busy) == marked
    expired = await fetchval(
        services,
        "SELECT count(*) FROM audit_log WHERE action = 'session.expired' AND subject = 'aoki'"
        " AND detail->>'reason' = 'idle'",
    )
    assert expired == 1


async def test_an_api_token_has_no_idle_timeout(services: Services, hall: Hall) -> None:
    desk: Desk = hall.app.state.desk
    await desk.add_staff(
        "vendor-batch",
        roles=[Role.OPERATOR],
        municipality=YUKI,
        department="it",
        password=None,
        terminals=TERMINALS,
    )
    token = await desk.issue_token("vendor-batch", label="nightly report", days=30)
    await _unused_for(services, token, 7 * 86400)
    client = await hall.at("192.0.2.99")
    answer = await client.get("/api/session", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    assert answer.json()["user_id"] == "vendor-batch"
