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
from stack.provision import PG_TLS_ROOT, Place
from tests.harness import ROOT

pytestmark = pytest.mark.integration
DEMO_DATABASE_URL = Place("sesshu_demo", pg_base=PG_TLS_ROOT).database_url


def sesshu(
    *args: str, database: str | None = None, ring: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the `sesshu` command as a user would, optionally against another database."""
    env = dict(os.environ)
    if database is not None:
        env["SESSHU_DATABASE__URL"] = database
    if ring is not None:
        env["SESSHU_SIGNING__RING_DIR"] = str(ring)
    return subprocess.run(
        [sys.executable, "-m", "hub", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=env,
    )


def test_the_demo_runs_through_a_live_hub(tmp_path: Path) -> None:
    result = sesshu("demo", "--dir", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "through a live hub worker" in out
    assert re.search(r"deliver\s+21\n", out)
    assert re.search(r"hold\s+auto_response_disabled\s+1\n", out)  # 115の2 waits (R37)
    assert "held for approval in 082279:" in out
    for code in ("bad_signature", "unknown_key", "key_not_bound", "wrong_tenant", "stale_message"):
        assert re.search(rf"reject\s+{code}\s+1\n", out)
    assert "worker drained: 28 received, 21 delivered, 1 held, 6 rejected" in out
    # A 所属長 approves the held provision; the audit chain verifies.
    assert re.search(r"approved by kacho-082279: \S+ released, attested by the hub\n", out)
    assert "audit trail: 3 rows, chain intact" in out
    assert "all as expected" in out


def test_held_list_and_simulate_read_the_demo_journal(tmp_path: Path) -> None:
    demo = sesshu("demo", "--dir", str(tmp_path))
    assert demo.returncode == 0, demo.stdout + demo.stderr
    held = sesshu("held", "list", "--municipality", "082279", database=DEMO_DATABASE_URL)
    assert held.returncode == 0, held.stderr
    assert held.stdout.startswith("0 held in 082279")  # the demo's 所属長 released it
    verified = sesshu("audit", "verify", database=DEMO_DATABASE_URL, ring=tmp_path / "keys")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.startswith("ok: 3 rows, chain intact, 1 checkpoints")
    proposed = tmp_path / "proposed"
    shutil.copytree(Settings().routing.directory(), proposed)
    (proposed / "auto_response_disabled.csv").write_text(
        "provider_system,provider_org,procedure,data_item,department\n"
    )
    result = sesshu(
        "policy", "simulate", str(proposed), "--since", "1d", database=DEMO_DATABASE_URL
    )
    assert result.returncode == 0, result.stderr
    # Without the flag, the held 115の2 provision would have gone out at once.
    assert "1 would change" in result.stdout
    assert "hold:auto_response_disabled -> deliver  provision_response" in result.stdout
