"""The README tells the truth about settings and the two commands."""

from __future__ import annotations

from pathlib import Path

from hub.settings import env_table

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_in_the_readme_table_and_nothing_else() -> None:
    documented = {
        line.split("`")[1] for line in README.splitlines() if line.startswith("| `SESSHU_")
    }
    assert documented == {variable for variable, _, _ in env_table()}
    for variable, default, _ in env_table():
        assert f"| `{variable}` | `{default}` |" in README


def test_the_two_commands_are_there_and_ci_runs_the_test_one() -> None:
    assert "make demo" in README
    assert "make test" in README
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
