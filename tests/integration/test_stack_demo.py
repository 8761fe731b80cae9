"""`make demo` (`sesshu stack demo`) on a terminal: the whole stack plays a day, the live
summary shows every flow, and Ctrl-C stops every process cleanly."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time

import pytest

from tests.e2e.stack import free_port_pair
from tests.harness import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(420)]


def test_the_demo_plays_a_day_live_and_ctrl_c_stops_everything(tmp_path: object) -> None:
    primary, secondary = pty.openpty()
    # A terminal tall enough for the whole summary (rich crops what does not fit).
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 60, 140, 0, 0))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSHU_")} | {
        "SESSHU_DESK__HTTP_PORT": str(free_port_pair()),
        "SESSHU_ADAPTERS__KIOSK_HTTP_PORT": str(free_port_pair()),
    }
    demo = subprocess.Popen(
        [sys.executable, "-m", "hub", "stack", "demo", "--dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        start_new_session=True,  # its own process group, as a terminal gives it
    )
    os.close(secondary)
    seen = _read_until(primary, "(Ctrl-C stops everything)", 360)
    # The terminal's Ctrl-C: SIGINT to the whole foreground process group.
    os.killpg(demo.pid, signal.SIGINT)
    seen += _read_until(primary, "all as expected", 90)
    assert demo.wait(30) == 0, seen[-3000:]
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", seen)
    for line in (
        "48 residents registered",
        "3 transfer-in inquiries answered",
        "the reply waits for Yuki's 所属長",
        "asked for their own data",
        "issued and verified",
        "approval page: https://",
        "for nws.082074 (auto_response_disabled)",
    ):
        assert line in text, line
    assert re.search(r"certificate_issued\s+│\s+1\s+│", text)
    systems = ("health_mgmt", "intermediate", "vrs", "kiosk")
    each = ", ".join(f"{system}-{city} 0" for city in ("082279", "082074") for system in systems)
    assert f"stopped: hub 0, desk 0, network 0, {each}" in text  # each system its own process
    assert (tmp_path / "certificate.png").read_bytes().startswith(b"\x89PNG")  # type: ignore[operator]
    assert (tmp_path / "certificate.pdf").read_bytes().startswith(b"%PDF")  # type: ignore[operator]
    # var/demo/logs/: each process's JSON lines at INFO, the hub's hold among them.
    logs = {path.stem: path.read_text() for path in (tmp_path / "logs").glob("*.log")}  # type: ignore[operator]
    assert {"hub", "desk", "network"} <= set(logs)
    entries = {
        name: [json.loads(line) for line in text.splitlines() if line.strip()]
        for name, text in logs.items()
    }
    assert all(any(entry["level"] == "INFO" for entry in lines) for lines in entries.values())
    assert any(entry.get("decision") == "held" for entry in entries["hub"])


def _read_until(fd: int, marker: str, seconds: float) -> str:
    deadline, seen = time.monotonic() + seconds, ""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if ready:
            try:
                seen += os.read(fd, 65536).decode(errors="replace")
            except OSError:  # the other end closed: the demo exited
                break
            if marker in re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", seen):
                return seen
    raise AssertionError(f"no {marker!r} within {seconds:.0f} s:\n{seen[-3000:]}")
