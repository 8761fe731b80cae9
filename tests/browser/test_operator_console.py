"""The operator console in real headless Chromium (Debian's, driven by Playwright): an
operator signs in, reads the console, filters the message browser, opens a refused
message's journey, dry-runs and confirms its re-drive once its key is in the ring, and the
message arrives once; an approver without the operator role is refused /ops. Screenshots
go to var/screenshots/ (ops-console.png, ops-message.png)."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from contracts.broker import adapter_queue
from contracts.codes import SystemId
from hub.approvals import Role
from hub.service import open_desk
from stack.processes import Processes
from tests.browser.test_approver_page import CHROMIUM, SCREENSHOTS
from tests.desk_web import TERMINALS
from tests.harness import CHIKUSEI, PASSWORD, HubProcess, Services, free_ports
from tests.ops import (
    LATE_KEY_ID,
    add_to_ring,
    journal_seq,
    late_key,
    redrive_done,
    ring_has,
    signed_with,
    unroutable,
)
from tests.probes import drain_queue, fetchval, published, topology_ready, wait_for
from tests.traffic import publish

pytestmark = pytest.mark.integration


@pytest.fixture
def desk_server(services: Services, policy_dir: Path, tmp_path: Path) -> Iterator[str]:
    """`sesshu desk` on a free port, as the approver page's test runs it; its base URL."""
    port = free_ports()
    env = services.desk_env(
        SESSHU_ROUTING__POLICY_DIR=str(policy_dir), SESSHU_DESK__HTTP_PORT=str(port)
    )
    desk = Processes(env, tmp_path)
    process = desk.sesshu("desk", ["desk"])
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1) as answer:  # noqa: S310
                if answer.status == 200:
                    break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                desk.stop(timeout=15)
                raise AssertionError(desk.log("desk")) from None
            time.sleep(0.2)
    yield base
    assert desk.stop(timeout=15) == {"desk": 0}, desk.log("desk")


async def _staff(services: Services, policy_dir: Path) -> None:
    desk = await open_desk(services.settings(SESSHU_ROUTING__POLICY_DIR=str(policy_dir)))
    try:
        for user, role in (("doi", Role.OPERATOR), ("aoki", Role.APPROVER)):
            await desk.add_staff(
                user,
                roles=[role],
                municipality=CHIKUSEI,
                department="health-promotion",
                password=PASSWORD,
                terminals=TERMINALS,
            )
    finally:
        await desk.store.close()


async def _signed_in(browser: Browser, base: str, user: str) -> Page:
    page = await (await browser.new_context(viewport={"width": 1280, "height": 1000})).new_page()
    await page.goto(f"{base}/login")
    await page.fill("input[name=user_id]", user)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/held")
    return page


async def test_an_operator_browses_traces_and_redrives_a_dead_letter_in_chromium(
    services: Services, policy_dir: Path, desk_server: str
) -> None:
    await _staff(services, policy_dir)
    hub = HubProcess(
        services,
        extra_env={
            "SESSHU_ROUTING__POLICY_DIR": str(policy_dir),
            "SESSHU_SIGNING__RING_RELOAD_SECONDS": "0.2",
            "SESSHU_DESK__REDRIVE_INTERVAL_SECONDS": "0.2",
        },
    ).start()
    key = late_key()
    message = signed_with(services, key)
    try:
        await wait_for(lambda: topology_ready(services), 30, "the hub's topology")
        await publish(services.amqp_url, [message.to_bytes(), unroutable(services).to_bytes()])
        seq = await journal_seq(services, "unknown_key")
        await journal_seq(services, "unroutable")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
            )
            await _an_approver_is_refused(browser, desk_server)
            page = await _signed_in(browser, desk_server, "doi")
            await _reads_the_console(page, desk_server)
            await _filters_and_opens(page, desk_server, seq)
            add_to_ring(services, key)
            await ring_has(services, LATE_KEY_ID)
            await _dry_runs_and_confirms(page, desk_server, seq)
            redrive = int(
                await fetchval(services, "SELECT id FROM redrives WHERE journal_seq = $1", seq)
            )
            assert await redrive_done(services, redrive) == "delivered"
            await wait_for(lambda: published(services), 30, "the re-driven message to go out")
            await page.reload()
            assert await page.text_content("[data-testid=redrive-state]") == "delivered"
            journey = await page.text_content("[data-testid=journey]") or ""
            assert "delivered as #" in journey
            assert "published to sesshu.deliver" in journey
            await page.screenshot(path=str(SCREENSHOTS / "ops-message.png"), full_page=True)
            await browser.close()
    finally:
        assert hub.stop() == 0, hub.log()
    arrived = await drain_queue(services.amqp_url, adapter_queue(SystemId.VRS, CHIKUSEI))
    assert [m.message_id for m in arrived] == [str(message.id)]
    agent = await fetchval(
        services, "SELECT terminal->>'agent' FROM audit_log WHERE action = 'redrive.requested'"
    )
    assert "Chrome" in agent
    for name in ("ops-console", "ops-message"):
        assert (SCREENSHOTS / f"{name}.png").stat().st_size > 5000


async def _an_approver_is_refused(browser: Browser, base: str) -> None:
    page = await _signed_in(browser, base, "aoki")
    assert await page.locator("[data-testid=nav-ops]").count() == 0
    answer = await page.goto(f"{base}/ops")
    assert answer is not None
    assert answer.status == 403
    assert "not_an_operator" in (await page.text_content("[data-testid=error]") or "")
    await page.context.close()


async def _reads_the_console(page: Page, base: str) -> None:
    await page.click("[data-testid=nav-ops]")
    await page.wait_for_url(f"{base}/ops")
    throughput = await page.text_content("[data-testid=throughput]") or ""
    assert "resident_status_flag" in throughput
    dead = await page.text_content("[data-testid=dead-letters]") or ""
    assert "unknown_key" in dead
    assert "unroutable" in dead
    queues = await page.text_content("[data-testid=queues]") or ""
    assert "hub.ingress" in queues
    await page.screenshot(path=str(SCREENSHOTS / "ops-console.png"), full_page=True)


async def _filters_and_opens(page: Page, base: str, seq: int) -> None:
    await page.click("[data-testid=nav-messages]")
    await page.wait_for_url(f"{base}/ops/messages")
    assert await page.locator("[data-testid=message-link]").count() == 2
    await page.fill("[data-testid=filters] input[name=reason]", "unknown_key")
    await page.select_option("[data-testid=filters] select[name=decision]", "reject")
    await page.click("[data-testid=filter]")
    await page.wait_for_url("**/ops/messages?*reason=unknown_key*")
    links = page.locator("[data-testid=message-link]")
    assert await links.count() == 1
    await links.first.click()
    await page.wait_for_url(f"{base}/ops/messages/{seq}")
    metadata = await page.text_content("[data-testid=metadata]") or ""
    assert "refused before its signature verified" in metadata
    assert "unknown_key" in (await page.text_content("h1") or "")
    assert "ciphertext" not in await page.content()


async def _dry_runs_and_confirms(page: Page, base: str, seq: int) -> None:
    await page.click("[data-testid=redrive-dry-run]")
    await page.wait_for_url(f"{base}/ops/redrive")
    assert await page.text_content("[data-testid=redrive-count]") == "1"
    await page.click("[data-testid=redrive-confirm]")
    await page.wait_for_url(f"{base}/ops/messages/{seq}?redrive=queued")
    assert await page.locator("[data-testid=redrive-queued]").count() == 1
