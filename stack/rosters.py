"""The rosters a stack's edges check every act against (adapters/kit/acts.py): one TOML
file per city, `<roster_dir>/<code>.toml`, written by `sesshu stack up`, the demo and the
end-to-end tests where a city has none. A city's own roster is kept by its IT from its
staff directory; the one written here names the demo's two clerks and their terminals,
so that the demo's and the tests' files are made by somebody, somewhere, as the edges
require.
"""

from __future__ import annotations

from pathlib import Path

from adapters.kit.acts import Act
from stack.tls import write_atomically

__all__ = ["COUNTER_CLERK", "HEALTH_CLERK", "provision_rosters", "roster_toml"]

HEALTH_CLERK = Act("hoken.sato", "hm-term-01")
"""The health-management clerk (健康増進課) who drops the demo's residents, 予診票 and
inquiries, at the section's terminal."""
COUNTER_CLERK = Act("staff.madoguchi.01", "vrs-term-01")
"""The counter clerk who drops the site readings and the transfer-in requests."""


def roster_toml() -> str:
    """The demo roster: one department managing the edges' procedures (予診票 by hand,
    副本 and the vaccination records: B1-10, B2-115-2, S19-16), its two clerks and their
    terminals."""
    return f"""\
# A city's roster (adapters/kit/acts.py), written by the stack for the demo: kept by the
# city's IT from its staff directory in real use, writable by its owner alone.
[departments.health-promotion]  # 健康増進課
procedures = ["B1-10", "B2-115-2", "S19-16"]

[terminals]
{HEALTH_CLERK.terminal} = "健康増進課 健康管理システム端末 1"
{COUNTER_CLERK.terminal} = "市民課 窓口端末 1"

[[staff]]
id = "{HEALTH_CLERK.operator}"
department = "health-promotion"

[[staff]]
id = "{COUNTER_CLERK.operator}"
department = "health-promotion"
"""


def provision_rosters(cities: tuple[str, ...], roster_dir: Path) -> list[Path]:
    """Write the demo roster for each city that has none (0644 in a 0755 folder: writable
    by its owner alone, which the edges require); the files written."""
    roster_dir.mkdir(parents=True, exist_ok=True)
    roster_dir.chmod(0o755)
    made = []
    for city in cities:
        path = roster_dir / f"{city}.toml"
        if path.exists():
            continue
        write_atomically(path, roster_toml().encode(), 0o644)
        made.append(path)
    return made
