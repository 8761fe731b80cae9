"""Shared fixtures: every test runs with no SESSHU_* variable from the caller's shell;
tests that touch the real services get their own vhost, database and key ring."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hub.settings import Settings
from observability import tracing
from stack.broker_users import remove_users
from stack.provision import PG_ROOT, rabbitmqctl
from tests.harness import Services, create_services, drop_database, drop_services

# The desk tests' policy also flags transfer-out provisions (they carry My Number), so
# reveal has something to reveal.
EXTRA_FLAG = "vrs,*,S19-16,covid.vaccination_record,covid-vaccination\n"


@pytest.fixture(autouse=True)
def _clean_sesshu_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SESSHU_"):
            monkeypatch.delenv(name)


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    """A vhost, a database and a key ring of this test's own, removed afterwards."""
    created = create_services(tmp_path)
    yield created
    drop_services(created)


_SPANS = InMemorySpanExporter()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """The spans this process finishes, caught in memory (the tracer provider is set once
    per process, so every test that reads spans shares this exporter); emptied for each
    test."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        tracing.configure("sesshu-test", exporter=_SPANS)
    _SPANS.clear()
    yield _SPANS
    _SPANS.clear()


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    """The sample policy plus one flag (EXTRA_FLAG)."""
    directory = tmp_path / "policy"
    shutil.copytree(Settings().routing.directory(), directory)
    with (directory / "auto_response_disabled.csv").open("a") as flags:
        flags.write(EXTRA_FLAG)
    return directory


# -- what runs that died left behind ---------------------------------------------------

# create_services' names (tests/harness.py): the owning test process's pid, then a random
# part; the databases beside the hub's (`_adapters`, the e2e stack's) add a suffix.
LEFTOVER = re.compile(r"sesshu_test_(?P<pid>[0-9]+)_[0-9a-f]{8}(?:_[a-z0-9_]+)?")


def pytest_collection_finish(session: pytest.Session) -> None:
    """Before tests that use the real services, remove the vhosts and databases of test runs
    whose process is gone (killed, timed out): each leftover vhost keeps its quorum queues
    and message stores open, and a node out of file handles takes minutes to do anything."""
    if any(
        item.get_closest_marker("integration")
        or {"services", "module_services"} & set(getattr(item, "fixturenames", ()))
        for item in session.items
    ):
        sweep_leftovers()


def _owner_gone(name: str) -> bool:
    match = LEFTOVER.fullmatch(name)
    if match is None:
        return False
    try:
        os.kill(int(match["pid"]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False  # alive: a run still going (or a reused pid: left for a later session)


def sweep_leftovers() -> None:
    """Delete the harness's vhosts and databases whose test process has exited; quietly
    nothing where a service does not answer (the tests that need it will say so)."""
    try:
        listed = subprocess.run(
            ["rabbitmqctl", "-q", "list_vhosts", "name"],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        pass
    else:
        for vhost in listed.stdout.split():
            if _owner_gone(vhost):
                with contextlib.suppress(subprocess.SubprocessError):  # gone meanwhile
                    rabbitmqctl("delete_vhost", vhost)
                remove_users(f"{vhost}.")  # its parties' users (stack.broker_users)
    with contextlib.suppress(OSError, asyncpg.PostgresError):
        asyncio.run(_sweep_databases())


async def _sweep_databases() -> None:
    connection = await asyncpg.connect(PG_ROOT + "postgres", timeout=10)
    try:
        names = [
            row["datname"]
            for row in await connection.fetch(
                "SELECT datname FROM pg_database WHERE datname LIKE 'sesshu\\_test\\_%'"
            )
        ]
    finally:
        await connection.close()
    for name in names:
        if _owner_gone(name):
            await drop_database(name)
    await sweep_roles()


async def sweep_roles() -> None:
    """Drop the database roles (stack/roles.py: `<place>_admin`, `<place>_<party>`) of test
    runs whose process has exited, once their databases are gone: roles are the cluster's,
    so a dead run's would otherwise stay for good."""
    connection = await asyncpg.connect(PG_ROOT + "postgres", timeout=10)
    try:
        names = await connection.fetch(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE 'sesshu\\_test\\_%'"
        )
        for name in (row["rolname"] for row in names):
            if _owner_gone(name):
                # Still granted something in a database a live run is dropping: next time.
                with contextlib.suppress(asyncpg.DependentObjectsStillExistError):
                    await connection.execute(f'DROP ROLE IF EXISTS "{name}"')
    finally:
        await connection.close()
