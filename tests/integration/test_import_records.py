"""`sesshu import records` against the real hub: good rows of a batch reach the
intermediate server signed, naming the staff account that keyed each in (R16), bad rows
and rows from a terminal off the city's list (R26/R27) are reported, and the same file
sent again adds nothing (stable message ids, deduped by the hub)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Awaitable
from pathlib import Path

import pytest

from contracts.broker import adapter_queue
from contracts.codes import SystemId
from contracts.envelope import Envelope
from hub.approvals import Role
from hub.desk import DeskError, Terminal, open_desk
from stack.rosters import HEALTH_CLERK, provision_rosters
from tests.harness import CHIKUSEI, PASSWORD, ROOT, HubProcess, Services
from tests.probes import drain_queue, fetchval, journaled, settled, topology_ready, wait_for
from tests.unit.test_records_csv import GOOD, PHONE, csv_bytes


def run_import(
    services: Services, batch: Path, folder: Path, rosters: Path
) -> subprocess.CompletedProcess[str]:
    key = services.ring_dir / f"health_mgmt-{CHIKUSEI}-t.signing.pem"
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "hub",
            "import",
            "records",
            str(batch),
            "--municipality",
            CHIKUSEI,
            "--key",
            str(key),
            "--folder",
            str(folder),
        ],
        cwd=ROOT,
        env=services.env(SESSHU_ADAPTERS__ROSTER_DIR=str(rosters)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_r01_a_manual_import_goes_out_once_two_operators_checked_it_and_a_kacho_signed_off(
    services: Services, tmp_path: Path
) -> None:
    batch = tmp_path / "yoshinhyo-2025-11.csv"
    clerk = {"operator": HEALTH_CLERK.operator, "terminal": HEALTH_CLERK.terminal}
    rows = [GOOD, GOOD | {"basic_code": "1000234568"}, GOOD | {"lot_number": ""}, GOOD]
    rows = [clerk | row for row in rows] + [GOOD | clerk | {"terminal": "home-pc"}]
    batch.write_bytes(csv_bytes(rows, japanese=True, encoding="cp932", acts=True))
    rosters = tmp_path / "rosters"
    provision_rosters((CHIKUSEI,), rosters)
    intermediate = adapter_queue(SystemId.INTERMEDIATE, CHIKUSEI)
    hub = HubProcess(services).start()
    try:
        asyncio.run(wait_for(lambda: topology_ready(services), 30, "the hub's topology"))
        first = run_import(services, batch, tmp_path / "hm", rosters)
        assert first.returncode == 1, first.stdout + first.stderr  # two rows were bad
        assert "3 row(s) sent, 2 rejected (encoding cp932)" in first.stdout
        assert "line 4: row:" in first.stdout
        assert "line 6: terminal: not on the city's terminal allow-list" in first.stdout
        assert PHONE not in first.stdout + first.stderr
        asyncio.run(wait_for(lambda: held(services, 3), 60, "the 3 rows held (R01)"))
        again = run_import(services, batch, tmp_path / "hm", rosters)
        assert "3 row(s) sent" in again.stdout
        asyncio.run(wait_for(lambda: settled(services, 3), 60, "the resend settled"))
        assert asyncio.run(journaled(services)) == 3  # the resend was all duplicates
        # Held: nothing reached the intermediate server before the checks and sign-off.
        assert asyncio.run(drain_queue(services.amqp_url, intermediate)) == []
        asyncio.run(_checked_and_signed_off(services))
        asyncio.run(wait_for(lambda: settled(services, 3), 60, "the 3 rows released"))
    finally:
        assert hub.stop() == 0, hub.log()
    arrived = asyncio.run(drain_queue(services.amqp_url, intermediate))
    envelopes = [Envelope.model_validate_json(m.body) for m in arrived]
    assert len(envelopes) == 3
    assert {e.kind for e in envelopes} == {"vaccination_record"}
    assert {e.sender.system for e in envelopes} == {SystemId.HEALTH_MGMT}
    assert {e.sender.operator for e in envelopes} == {HEALTH_CLERK.operator}
    assert len({e.correlation_id for e in envelopes}) == 1  # one batch
    assert (tmp_path / "hm" / "results" / "yoshinhyo-2025-11.result.csv").is_file()


async def held(services: Services, count: int) -> bool:
    rows = await fetchval(
        services, "SELECT count(*) FROM held_messages WHERE reason_code = 'manual_import'"
    )
    return int(rows) >= count


STAFF = {
    HEALTH_CLERK.operator: Role.OPERATOR,  # who imported the batch
    "tanto.a": Role.OPERATOR,
    "tanto.b": Role.OPERATOR,
    "kacho.k": Role.APPROVER,
}


async def _checked_and_signed_off(services: Services) -> None:
    """R01 at the desk, each forbidden variant refused: no sign-off without checks, after
    one, or after two by the same person; the importer's own check; then two checks and
    the 所属長's sign-off."""
    desk = await open_desk(services.settings())
    here = Terminal("127.0.0.1", "test")
    try:
        who = {}
        for user, role in STAFF.items():
            await desk.add_staff(
                user,
                roles=[role],
                municipality=CHIKUSEI,
                department="health-promotion",
                password=PASSWORD,
                terminals=["127.0.0.1/32"],
            )
            _, who[user] = await desk.login(user, PASSWORD, here)
        (waiting,) = await desk.imports(who["tanto.a"])
        assert (waiting.rows, waiting.originated_by) == (3, HEALTH_CLERK.operator)
        assert waiting.checked_by == ()

        async def refused(code: str, act: Awaitable[object]) -> None:
            with pytest.raises(DeskError) as caught:
                await act
            assert caught.value.code == code

        kacho, batch = who["kacho.k"], waiting.batch
        await refused("checks_missing", desk.sign_off(kacho, batch, terminal=here))
        # Rows may still be arriving: a check is of the rows the checker was shown.
        await refused("batch_changed", desk.check(who["tanto.a"], batch, terminal=here, rows=2))
        assert await desk.check(who["tanto.a"], batch, terminal=here, rows=3) == 3
        await refused("already_checked", desk.check(who["tanto.a"], batch, terminal=here))
        await refused("checks_missing", desk.sign_off(kacho, batch, terminal=here))
        await refused("four_eyes", desk.check(who[HEALTH_CLERK.operator], batch, terminal=here))
        await refused("not_an_operator", desk.check(kacho, batch, terminal=here))
        assert (await desk.imports(kacho))[0].checked_by == ("tanto.a",)
        assert await desk.check(who["tanto.b"], batch, terminal=here) == 3
        # Checked, but not released a row at a time as a held reply is: as a batch.
        rows, _ = await desk.held_list(kacho)
        await refused("sign_off_the_batch", desk.approve(kacho, rows[0].message_id, terminal=here))
        assert await desk.sign_off(kacho, batch, terminal=here, comment="照合済み") == 3
        assert await desk.imports(kacho) == []
        await refused("not_found", desk.sign_off(kacho, batch, terminal=here))
        audited = await desk.store.audit_search(
            actor=None,
            action=None,
            subject=batch,
            municipality=None,
            since=None,
            limit=50,
            offset=0,
        )
    finally:
        await desk.store.close()
    actions = sorted(row.action for row in audited)
    assert actions == sorted(
        ["held.checked"] * 2
        + ["held.check_refused"] * 4
        + ["held.sign_off_refused"] * 3  # the last for a batch signed off already
        + ["held.signed_off"]
    )
