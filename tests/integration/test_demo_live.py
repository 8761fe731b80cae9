"""`sesshu demo` with its live part: the example envelopes through a real worker."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import ROOT

pytestmark = pytest.mark.integration


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
    for code in ("bad_signature", "unknown_key", "key_not_bound", "wrong_tenant", "stale_message"):
        assert re.search(rf"reject\s+{code}\s+1\n", out)
    assert "worker drained: 26 received, 19 delivered, 1 held, 6 rejected" in out
    assert "all as expected" in out
