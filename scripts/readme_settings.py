"""Rewrite the settings table in README.md from the settings model (`make readme`)."""

from __future__ import annotations

import re
from pathlib import Path

from hub.settings import env_table

README = Path(__file__).resolve().parents[1] / "README.md"


def table() -> str:
    """The Markdown table of every SESSHU_* setting."""
    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    lines += [f"| `{var}` | `{default}` | {text} |" for var, default, text in env_table()]
    return "\n".join(lines)


def main() -> None:
    """Replace the table that follows '## Settings'."""
    text = README.read_text(encoding="utf-8")
    pattern = re.compile(r"\| variable \| default \| meaning \|\n(?:\|.*\|\n)+")
    README.write_text(pattern.sub(table() + "\n", text, count=1), encoding="utf-8")


if __name__ == "__main__":
    main()
