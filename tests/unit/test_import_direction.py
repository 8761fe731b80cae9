"""Imports point one way (conventions.md, rule 1): an AST walk over every package."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("contracts", "routing", "observability", "storekit", "hub", "adapters", "stack")
# Only these talk to PostgreSQL: the kit they share, and each side's store.
ASYNCPG_USERS = ("storekit", "hub.store", "adapters.store")
# Inside adapters: the kit every system shares, the ports, and the PostgreSQL stores the
# stack wires in. A system imports the kit, the ports and itself, never another system.
ADAPTER_SHARED = {
    "adapters.kit": ("adapters.kit", "adapters.ports"),
    "adapters.ports": ("adapters.ports",),
    "adapters.store": ("adapters.store", "adapters.ports", "storekit"),
}
BROKER_CLIENTS = {"faststream", "aio_pika", "aiormq", "pamqp"}


@dataclass(frozen=True)
class Rule:
    """What one package may import: first-party prefixes, and a third-party policy."""

    first_party: tuple[str, ...]
    third_party_only: frozenset[str] | None = None  # None: any, except the global bans


RULES = {
    "contracts": Rule(
        ("contracts",), frozenset({"pydantic", "pydantic_core", "cryptography", "uuid_utils"})
    ),
    "routing": Rule(("contracts", "routing"), frozenset({"pydantic", "pydantic_core", "yaml"})),
    "observability": Rule(("contracts", "observability")),
    # The exception tree is a leaf module: the kit raises the hub's DatabaseUnavailable.
    "storekit": Rule(("storekit", "hub.errors"), frozenset({"asyncpg"})),
    "hub": Rule(("contracts", "routing", "observability", "storekit", "hub")),
    "adapters": Rule(
        ("contracts", "observability", "adapters", "storekit", "hub.settings", "hub.errors")
    ),
    # The composition root: wires adapters to their stores; nothing imports it back.
    "stack": Rule(
        ("contracts", "routing", "observability", "storekit", "hub", "adapters", "stack")
    ),
}


def imported_modules(tree: ast.AST, module: str) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) for every import in a module's AST."""
    package = module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            # `from hub import store` may import the module hub.store: judge the full name.
            for alias in node.names:
                yield node.lineno, f"{name}.{alias.name}"


def _allowed_first_party(name: str, rule: Rule) -> bool:
    return any(name == p or name.startswith(p + ".") for p in rule.first_party)


def violations(root: Path) -> list[str]:
    """Every import in `root`'s packages that breaks the direction rules."""
    found: list[str] = []
    for path in sorted(root.glob("*/**/*.py")):
        relative = path.relative_to(root)
        top = relative.parts[0]
        if top not in RULES:
            continue
        module = ".".join(relative.with_suffix("").parts)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, name in imported_modules(tree, module):
            problem = _check(module, name, RULES[top], relative)
            if problem:
                found.append(f"{relative}:{line}: {name}: {problem}")
    return found


def _check(module: str, name: str, rule: Rule, relative: Path) -> str | None:
    head, top = name.split(".", maxsplit=1)[0], module.split(".", maxsplit=1)[0]
    if head in sys.stdlib_module_names or head in {"__future__", ""}:
        return None
    if head in RULES:
        if not (_allowed_first_party(name, rule) or name.startswith(top + ".")):
            return f"{top} may import only {', '.join(rule.first_party)}"
        if (top == "adapters" and head == "adapters") or name.startswith("storekit"):
            return _inside_adapters(module, name)
        return None
    problems = [
        (
            head == "asyncpg" and not _within(module, ASYNCPG_USERS),
            "only storekit, hub/store and adapters/store import asyncpg",
        ),
        (
            # The stack is the composition root: its demos publish and read queues directly.
            head in BROKER_CLIENTS and top not in {"adapters", "hub", "observability", "stack"},
            "only adapters, the hub, the stack and observability import the broker client",
        ),
        (
            head in BROKER_CLIENTS and module.startswith("hub.store"),
            "the store knows nothing of the broker",
        ),
        (
            rule.third_party_only is not None and head not in rule.third_party_only,
            f"third-party imports allowed here: {', '.join(sorted(rule.third_party_only or ()))}",
        ),
    ]
    return next((message for broken, message in problems if broken), None)


def _within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def _inside_adapters(module: str, name: str) -> str | None:
    """The rules between the adapters' own packages (and the storage kit, for them)."""
    parts = module.split(".")
    if not module.startswith("adapters.") or len(parts) < 2:
        return None
    home = ".".join(parts[:2])
    if home in ADAPTER_SHARED:
        allowed = ADAPTER_SHARED[home]
        return None if _within(name, allowed) else f"{home} may import only {', '.join(allowed)}"
    if _within(name, ("storekit", "adapters.store")):
        return "a system knows its stores only by their ports; the stack wires them"
    if not _within(name, ("adapters.kit", "adapters.ports", home)):
        return "a system imports only the kit, the ports and itself"
    if module.endswith(".bridge") and name.rsplit(".", maxsplit=1)[-1] == "simulator":
        return "a bridge never imports a simulator"
    return None


def test_the_packages_keep_the_import_direction() -> None:
    assert violations(ROOT) == []


def test_every_package_is_covered() -> None:
    assert set(RULES) == set(PACKAGES)
    for package in PACKAGES:
        assert (ROOT / package / "__init__.py").is_file()


@pytest.mark.parametrize(
    ("path", "source", "expected"),
    [
        ("contracts/x.py", "import hub.settings\n", "contracts may import only contracts"),
        ("contracts/x.py", "from routing import decide\n", "contracts may import only contracts"),
        ("contracts/x.py", "import faststream\n", "broker client"),
        ("contracts/x.py", "import yaml\n", "third-party imports allowed here"),
        ("routing/x.py", "from hub import errors\n", "routing may import only"),
        ("routing/x.py", "import aio_pika\n", "broker client"),
        ("hub/worker.py", "import asyncpg\n", "only storekit, hub/store and adapters/store"),
        ("adapters/vrs/bridge.py", "import asyncpg\n", "only storekit, hub/store and adapters"),
        ("adapters/vrs/bridge.py", "from adapters.kiosk import edge\n", "only the kit, the ports"),
        (
            "adapters/kit/rows.py",
            "from adapters.vrs import bridge\n",
            "may import only adapters.kit",
        ),
        ("adapters/vrs/bridge.py", "from adapters.store import db\n", "only by their ports"),
        ("adapters/vrs/bridge.py", "from storekit import translate\n", "only by their ports"),
        (
            "adapters/ports.py",
            "from adapters.kit import bridge\n",
            "may import only adapters.ports",
        ),
        ("hub/pipeline.py", "from adapters import ports\n", "hub may import only"),
        ("storekit/x.py", "from hub import pipeline\n", "storekit may import only"),
        ("adapters/store/db.py", "import asyncpg\nfrom storekit import migrate\n", None),
        ("adapters/vrs/bridge.py", "from adapters.kit import rows\nfrom . import edge\n", None),
        ("hub/store/db.py", "import aio_pika\n", "the store knows nothing of the broker"),
        (
            "adapters/vrs/bridge.py",
            "from adapters.vrs import simulator\n",
            "never imports a simulator",
        ),
        ("adapters/vrs/bridge.py", "from hub.store import journal\n", "adapters may import only"),
        ("adapters/vrs/bridge.py", "from hub.ports import Journal\n", "adapters may import only"),
        ("adapters/vrs/edge.py", "from . import simulator\n", None),
        ("hub/store/db.py", "import asyncpg\n", None),
        ("hub/worker.py", "from .store import journal\n", None),
        ("adapters/vrs/edge.py", "from hub.settings import Settings\n", None),
    ],
)
def test_the_checker_catches_each_kind_of_breach(
    tmp_path: Path, path: str, source: str, expected: str | None
) -> None:
    target = tmp_path / path
    target.parent.mkdir(parents=True)
    target.write_text(source)
    found = violations(tmp_path)
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1
        assert expected in found[0]


def test_loading_the_systems_loads_neither_the_hub_nor_a_database_client() -> None:
    # What the static walk cannot see: a module a permitted one drags in. Loading a bridge
    # once loaded hub.pipeline and the routing policy through the ports it shared with the hub.
    systems = sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts)
        for p in (ROOT / "adapters").glob("*/*.py")
        if p.parent.name not in {"store"} and p.stem != "__init__"
    )
    probe = (
        "import importlib, json, sys\n"
        f"for name in {systems!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    loaded = json.loads(
        subprocess.run(
            [sys.executable, "-c", probe], check=True, capture_output=True, text=True, cwd=ROOT
        ).stdout
    )
    outside = [
        m
        for m in loaded
        if m.split(".")[0] in {"hub", "routing", "storekit", "asyncpg", "stack"}
        # The bare packages are docstrings (hub.settings finds the sample policy's folder
        # beside routing/__init__.py); the settings and the exception tree are the hub's
        # that adapters may use.
        and m not in {"hub", "routing", "hub.errors"}
        and not m.startswith("hub.settings")
    ]
    assert outside == []
