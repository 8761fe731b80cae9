"""`sesshu demo` with its live part: the example envelopes through a real worker."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hub.settings import Settings
from tests.harness import PG_ROOT, ROOT

pytestmark = pytest.mark.integration
DEMO_DATABASE_URL = PG_ROOT + "sesshu_demo"


def test_the_demo_runs_through_a_live_hub(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hub", "demo", "--dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "through a live hub worker" in out
    assert re.search(r"deliver\s+19\n", out)
    assert re.search(r"hold\s+auto_response_disabled\s+1\n", out)  # 115の2 waits (R37)
    assert "held for approval in 082279:" in out
    for code in ("bad_signature", "unknown_key", "key_not_bound", "wrong_tenant", "stale_message"):
        assert re.search(rf"reject\s+{code}\s+1\n", out)
    assert "worker drained: 26 received, 19 delivered, 1 held, 6 rejected" in out
    assert "all as expected" in out


def test_simulate_replays_the_demo_journal_under_a_proposed_policy(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "hub", "demo", "--dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        timeout=180,
        check=True,
    )
    proposed = tmp_path / "proposed"
    shutil.copytree(Settings().routing.directory(), proposed)
    (proposed / "auto_response_disabled.csv").write_text(
        "provider_system,provider_org,procedure,data_item\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "hub", "policy", "simulate", str(proposed), "--since", "1d"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "SESSHU_DATABASE__URL": DEMO_DATABASE_URL},
    )
    assert result.returncode == 0, result.stderr
    held = subprocess.run(
        [sys.executable, "-m", "hub", "held", "list", "--municipality", "082279"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "SESSHU_DATABASE__URL": DEMO_DATABASE_URL},
    )
    assert held.returncode == 0, held.stderr
    assert held.stdout.startswith("1 held in 082279")
    assert "auto_response_disabled" in held.stdout
    # Without the flag, the held 115の2 provision would have gone out at once.
    assert "1 would change" in result.stdout
    assert "hold:auto_response_disabled -> deliver  provision_response" in result.stdout
