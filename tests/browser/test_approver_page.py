"""The approver page in real headless Chromium (Debian's, driven by Playwright): log in,
open the held reply from the queue, read its review copy as a person reads it (who asks,
about whom, what would go, in Japanese, masked), approve it with a comment, and the reply
arrives at the recipient's adapter queue. Screenshots go to var/screenshots/
(desk-held.png is the review page)."""

from __future__ import annotations

import shutil
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright

from contracts.broker import adapter_queue
from contracts.codes import SystemId
from contracts.envelope import Envelope
from contracts.examples import example_payload
from contracts.sealing import content_digest
from hub.approvals import Role
from hub.service import open_desk
from stack.processes import Processes
from tests.desk_web import TERMINALS
from tests.harness import CHIKUSEI, PASSWORD, ROOT, YUKI, HubProcess, Services, free_ports
from tests.probes import drain_queue, fetchval, held, published, topology_ready, wait_for
from tests.traffic import provision

# Debian's chromium, which `make test` installs (scripts/tools.sh); no skipping without it.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = ROOT / "var" / "screenshots"


@pytest.fixture
def desk_server(services: Services, policy_dir: Path, tmp_path: Path) -> Iterator[str]:
    """`sesshu desk` on a free port; its base URL."""
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


async def test_an_approver_logs_in_and_approves_in_chromium_and_the_reply_arrives(
    services: Services, policy_dir: Path, desk_server: str
) -> None:
    desk = await open_desk(services.settings(SESSHU_ROUTING__POLICY_DIR=str(policy_dir)))
    try:
        await desk.add_staff(
            "aoki",
            roles=[Role.APPROVER],
            municipality=YUKI,
            department="health-promotion",
            password=PASSWORD,
            terminals=TERMINALS,
        )
    finally:
        await desk.store.close()
    hub = HubProcess(services, extra_env={"SESSHU_ROUTING__POLICY_DIR": str(policy_dir)}).start()
    try:
        await wait_for(lambda: topology_ready(services), 30, "the hub's topology")
        reply = provision(services)
        await held(services, reply)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
            )
            page = await browser.new_page(viewport={"width": 1200, "height": 900})
            await page.goto(f"{desk_server}/held")
            assert page.url.endswith("/login")
            await page.fill("input[name=user_id]", "aoki")
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button[type=submit]")
            await page.wait_for_url(f"{desk_server}/held")
            await page.screenshot(path=str(SCREENSHOTS / "desk-queue.png"), full_page=True)
            assert await page.locator("[data-testid=held-link]").count() == 1
            await page.click("[data-testid=held-link]")
            await page.wait_for_url(f"{desk_server}/held/{reply.id}")
            assert await page.text_content("[data-testid=message-id]") == str(reply.id)
            await _reads_the_review_copy(page, reply)
            await page.fill("form[action$=approve] textarea[name=comment]", "内容確認済み")
            await page.screenshot(path=str(SCREENSHOTS / "desk-held.png"), full_page=True)
            await page.click("[data-testid=approve]")
            await page.wait_for_url(f"{desk_server}/held?done=approved")
            assert "approved" in (await page.text_content("[data-testid=done]") or "")
            await page.screenshot(path=str(SCREENSHOTS / "desk-approved.png"), full_page=True)
            await browser.close()
        await wait_for(lambda: published(services), 30, "the release to go out")
        state = await fetchval(
            services, "SELECT state FROM held_messages WHERE message_id = $1", reply.id
        )
        assert state == "released"
        comment = await fetchval(
            services, "SELECT comment FROM held_messages WHERE message_id = $1", reply.id
        )
        assert comment == "内容確認済み"
    finally:
        assert hub.stop() == 0, hub.log()
    arrived = await drain_queue(services.amqp_url, adapter_queue(SystemId.NWS, YUKI))
    assert reply.to_bytes() in [m.body for m in arrived]
    agent = await fetchval(
        services,
        "SELECT terminal->>'agent' FROM audit_log "
        "WHERE action = 'held.approved' AND actor = 'aoki'",
    )
    assert "Chrome" in agent
    assert all((SCREENSHOTS / f"desk-{n}.png").stat().st_size > 5000 for n in ("queue", "held"))


async def _reads_the_review_copy(page: Page, reply: Envelope) -> None:
    """The 所属長 reads the reply as a person reads it (R37): who asks, about whom
    (masked), each item that would go, in Japanese; never its ciphertext."""
    review = await page.text_content("[data-testid=review]") or ""
    assert f"{CHIKUSEI} 中間サーバー" in review
    assert "番号法 別表第二 115の2" in review
    assert "**01" in review  # the person's number, masked
    assert "1001" not in review
    history = example_payload("provision_response").model_dump(mode="json")["history"]
    assert await page.locator("[data-testid=items] tbody tr").count() == len(history)
    assert "接種日" in review
    assert history[0]["administered_on"] in review
    body = await page.content()
    assert "ciphertext" not in body
    assert reply.to_document()["payload"]["ciphertext"] not in body
    digest = content_digest(example_payload("provision_response"))
    assert await page.text_content("[data-testid=content-sha256]") == digest
