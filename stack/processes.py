"""The stack's processes, started and stopped one way: `sesshu stack up`, `sesshu stack
demo`, the end-to-end and chaos tests and the benchmarks all run their hub, desk, network
and cities through `Processes`.

Each child is this interpreter running one of our modules (`python -m hub ...` for a
`sesshu` command), with its output in `<log_dir>/<name>.log` (or the terminal's, without a
log folder). Stopping sends SIGTERM, which every process of ours takes as "drain and exit
0", and SIGKILLs what has not exited in time (exit code -9).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from contracts.codes import SystemId
from stack.parties import CITY_SYSTEMS, Party

__all__ = ["ROOT", "Processes", "process_of", "stack_commands"]

ROOT = Path(__file__).resolve().parents[1]


def stack_commands(
    municipalities: Iterable[str], *, desk: bool = True, hub_workers: int | None = None
) -> dict[str, list[str]]:
    """The `sesshu` command of each process of a whole stack, by name: the hub, the desk,
    the network, and one process per system of each city (`<system>-<code>`, each a party
    of its own: stack.parties)."""
    hub = ["hub"] + ([] if hub_workers is None else ["--workers", str(hub_workers)])
    commands = {"hub": hub} | ({"desk": ["desk"]} if desk else {})
    commands["network"] = ["stack", "network"]
    for code in municipalities:
        for system in CITY_SYSTEMS:
            commands[Party(system, code).name] = ["stack", "city", code, system.value]
    return commands


def process_of(party: Party) -> str:
    """The name of a party's process in `stack_commands`."""
    return "network" if party.system is SystemId.NWS else party.name


@dataclass
class Processes:
    """Named children, each with its log file; stopped together."""

    env: dict[str, str]
    log_dir: Path | None = None
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def sesshu(self, name: str, argv: Sequence[str], **env: str) -> subprocess.Popen[bytes]:
        """Start `sesshu <argv>` as `name`, with `env` on top of the shared environment."""
        return self.module(name, "hub", argv, **env)

    def module(
        self, name: str, module: str, argv: Sequence[str], **env: str
    ) -> subprocess.Popen[bytes]:
        """Start `python -m <module> <argv>` as `name`."""
        command = [sys.executable, "-m", module, *argv]
        if self.log_dir is None:
            child = subprocess.Popen(command, env=self.env | env, cwd=ROOT)  # noqa: S603
        else:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            with self.log_path(name).open("wb") as log:  # the child keeps its own copy
                child = subprocess.Popen(  # noqa: S603 - this interpreter, our own modules
                    command, env=self.env | env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
                )
        self.children[name] = child
        return child

    def start_all(
        self, commands: dict[str, list[str]], envs: Mapping[str, Mapping[str, str]] = {}
    ) -> None:
        """Start each `sesshu` command of `commands` under its name, each with its own
        `envs[name]` (its credentials and key folder) on top of the shared environment."""
        for name, argv in commands.items():
            self.sesshu(name, argv, **envs.get(name, {}))

    def log_path(self, name: str) -> Path:
        """Where a child's output goes."""
        if self.log_dir is None:
            raise ValueError("these processes write to the terminal")
        return self.log_dir / f"{name}.log"

    def log(self, name: str) -> str:
        """A child's output so far."""
        path = self.log_path(name)
        return path.read_text(errors="replace") if path.exists() else ""

    def logs(self) -> str:
        """Every child's output, each under its name."""
        return "\n".join(f"--- {name}\n{self.log(name)}" for name in self.children)

    def running(self) -> bool:
        """True while every child still runs."""
        return all(child.poll() is None for child in self.children.values())

    def signal(self, name: str, signum: int) -> None:
        """Send a signal to one child."""
        self.children[name].send_signal(signum)

    def wait_any(self, poll: float = 0.5) -> None:
        """Return once any child has exited (Ctrl-C returns too)."""
        try:
            while self.running():
                time.sleep(poll)
        except KeyboardInterrupt:
            pass

    def stop(
        self, names: Iterable[str] | None = None, *, grace: float = 0.0, timeout: float = 60
    ) -> dict[str, int]:
        """Let the children (all, or `names`) exit by themselves for `grace` seconds (a
        terminal's Ctrl-C reached them already), then SIGTERM, then SIGKILL after
        `timeout`; their exit codes."""
        chosen = {n: self.children[n] for n in names or list(self.children)}
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(c.poll() is None for c in chosen.values()):
            time.sleep(0.2)
        for child in chosen.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        codes = {}
        for name, child in chosen.items():
            try:
                codes[name] = child.wait(timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
                codes[name] = -9
        return codes

    def kill_all(self) -> None:
        """SIGKILL whatever still runs (after a failure, so nothing is left behind)."""
        for child in self.children.values():
            if child.poll() is None:
                child.kill()
                child.wait()
