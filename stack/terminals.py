"""The terminals of a stack's certificate centers (adapters/kiosk/terminals.py): one
registry per city, `<terminal_dir>/<code>.toml`, with the SHA-256 of each terminal's
token, and the tokens themselves where the demo's and the tests' terminals read them,
`<token_dir>/<code>/<terminal>.token` (0600, in 0700 folders), and the counter clerk's
own, `clerk-<account>.token`. Written by `sesshu stack
up`, the demo and the end-to-end tests where a city has none: in real use the center's
operator issues a token to each terminal it admits and keeps only the digest.
"""

from __future__ import annotations

from pathlib import Path

from adapters.kiosk.terminals import Channel, new_token, token_digest
from stack.rosters import COUNTER_CLERK
from stack.tls import write_atomically

__all__ = [
    "APP_TERMINAL",
    "COUNTER_TERMINAL",
    "KIOSK_TERMINAL",
    "clerk_token_of",
    "provision_terminals",
    "terminal_tokens",
    "token_of",
]

KIOSK_TERMINAL = "kiosk-0001"
"""A convenience-store kiosk (F19)."""
APP_TERMINAL = "app-0001"
"""The app's gateway to the center (F18)."""
COUNTER_TERMINAL = COUNTER_CLERK.terminal
"""The city's counter terminal (F17), on the city's roster too."""
_TERMINALS: tuple[tuple[str, Channel, str], ...] = (
    (KIOSK_TERMINAL, "kiosk", "コンビニ交付 キオスク端末 1"),
    (APP_TERMINAL, "app", "接種証明書アプリ ゲートウェイ"),
    (COUNTER_TERMINAL, "counter", "市民課 窓口端末 1"),
)


def terminal_tokens(key_root: Path) -> Path:
    """Where a stack keeps its demo terminals' tokens: beside the parties' key folders."""
    return key_root / "terminals"


def token_of(token_dir: Path, city: str, terminal: str) -> str:
    """The token a demo terminal of `city` sends."""
    return (token_dir / city / f"{terminal}.token").read_text(encoding="utf-8").strip()


def clerk_token_of(token_dir: Path, city: str, account: str) -> str:
    """The token a demo counter clerk of `city` signs in with (`X-Clerk-Token`)."""
    return token_of(token_dir, city, f"clerk-{account}")


def provision_terminals(cities: tuple[str, ...], terminal_dir: Path, token_dir: Path) -> list[Path]:
    """A registry for each city that has none (0644 in a 0755 folder: writable by its
    owner alone, which the center requires), each terminal's token beside it in
    `token_dir`; the registries written."""
    terminal_dir.mkdir(parents=True, exist_ok=True)
    terminal_dir.chmod(0o755)
    made = []
    for city in cities:
        path = terminal_dir / f"{city}.toml"
        if path.exists():
            continue
        folder = token_dir / city
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        lines = [
            "# A certificate center's terminals (adapters/kiosk/terminals.py), written by the",
            "# stack for the demo: each terminal's token is kept by the terminal, only its",
            "# SHA-256 here.",
        ]
        for terminal, channel, description in _TERMINALS:
            token = new_token()
            write_atomically(folder / f"{terminal}.token", f"{token}\n".encode(), 0o600)
            lines += [
                "",
                f"[terminals.{terminal}]",
                f'channel = "{channel}"',
                f'token_sha256 = "{token_digest(token)}"',
                f'description = "{description}"',
            ]
        clerk = new_token()  # the counter clerk's own, which they sign in with
        clerk_file = folder / f"clerk-{COUNTER_CLERK.operator}.token"
        write_atomically(clerk_file, f"{clerk}\n".encode(), 0o600)
        lines += [
            "",
            f'[clerks."{COUNTER_CLERK.operator}"]',
            f'token_sha256 = "{token_digest(clerk)}"',
        ]
        write_atomically(path, ("\n".join(lines) + "\n").encode(), 0o644)
        made.append(path)
    return made
