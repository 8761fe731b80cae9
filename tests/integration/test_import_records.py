"""`sesshu import records` against the real hub: good rows of a batch reach the
intermediate server signed, naming the staff account that keyed each in (R16), bad rows
and rows from a terminal off the city's list (R26/R27) are reported, and the same file
sent again adds nothing (stable message ids, deduped by the hub)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from contracts.broker import adapter_queue
from contracts.codes import SystemId
from contracts.envelope import Envelope
from stack.rosters import HEALTH_CLERK, provision_rosters
from tests.harness import CHIKUSEI, ROOT, HubProcess, Services
from tests.probes import drain_queue, journaled, settled, topology_ready, wait_for
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


def test_a_batch_reaches_the_intermediate_server_once(services: Services, tmp_path: Path) -> None:
    batch = tmp_path / "yoshinhyo-2025-11.csv"
    clerk = {"operator": HEALTH_CLERK.operator, "terminal": HEALTH_CLERK.terminal}
    rows = [GOOD, GOOD | {"basic_code": "1000234568"}, GOOD | {"lot_number": ""}, GOOD]
    rows = [clerk | row for row in rows] + [GOOD | clerk | {"terminal": "home-pc"}]
    batch.write_bytes(csv_bytes(rows, japanese=True, encoding="cp932", acts=True))
    rosters = tmp_path / "rosters"
    provision_rosters((CHIKUSEI,), rosters)
    hub = HubProcess(services).start()
    try:
        asyncio.run(wait_for(lambda: topology_ready(services), 30, "the hub's topology"))
        first = run_import(services, batch, tmp_path / "hm", rosters)
        assert first.returncode == 1, first.stdout + first.stderr  # two rows were bad
        assert "3 row(s) sent, 2 rejected (encoding cp932)" in first.stdout
        assert "line 4: row:" in first.stdout
        assert "line 6: terminal: not on the city's terminal allow-list" in first.stdout
        assert PHONE not in first.stdout + first.stderr
        asyncio.run(wait_for(lambda: settled(services, 3), 60, "3 journaled and delivered"))
        again = run_import(services, batch, tmp_path / "hm", rosters)
        assert "3 row(s) sent" in again.stdout
        asyncio.run(wait_for(lambda: settled(services, 3), 60, "the resend settled"))
        assert asyncio.run(journaled(services)) == 3  # the resend was all duplicates
    finally:
        assert hub.stop() == 0, hub.log()
    arrived = asyncio.run(
        drain_queue(services.amqp_url, adapter_queue(SystemId.INTERMEDIATE, CHIKUSEI))
    )
    envelopes = [Envelope.model_validate_json(m.body) for m in arrived]
    assert len(envelopes) == 3
    assert {e.kind for e in envelopes} == {"vaccination_record"}
    assert {e.sender.system for e in envelopes} == {SystemId.HEALTH_MGMT}
    assert {e.sender.operator for e in envelopes} == {HEALTH_CLERK.operator}
    assert (tmp_path / "hm" / "results" / "yoshinhyo-2025-11.result.csv").is_file()
