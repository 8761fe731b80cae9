"""The demo runs what exists today and meets no surprise."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from contracts.payloads import PAYLOAD_BY_KIND
from hub.cli import app
from stack.walkthrough import ROUTES, run


def test_the_demo_covers_every_kind_and_refuses_every_forgery(tmp_path: Path) -> None:
    lines: list[str] = []
    assert run(tmp_path, lines.append) == 0
    text = "\n".join(lines)
    assert set(ROUTES) == set(PAYLOAD_BY_KIND)
    for kind in PAYLOAD_BY_KIND:
        assert f"ok  {kind} " in text
    for code in (
        "bad_signature",
        "unknown_key",
        "key_not_bound",
        "wrong_tenant",
        "stale_message",
        "contract_invalid",
    ):
        assert code in text
    assert "ACCEPTED" not in text
    assert "123456789018" not in text


def test_sesshu_demo_runs_twice_in_the_same_directory(tmp_path: Path) -> None:
    runner = CliRunner()
    for _ in range(2):
        result = runner.invoke(app, ["demo", "--offline", "--dir", str(tmp_path)])
        assert result.exit_code == 0, result.output
        assert "all as expected" in result.output
