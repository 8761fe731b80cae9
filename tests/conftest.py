"""Shared fixtures: every test runs with no SESSHU_* variable from the caller's shell;
tests that touch the real services get their own vhost, database and key ring."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.settings import Settings
from tests.harness import Services, create_services, drop_services

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


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    """The sample policy plus one flag (EXTRA_FLAG)."""
    directory = tmp_path / "policy"
    shutil.copytree(Settings().routing.directory(), directory)
    with (directory / "auto_response_disabled.csv").open("a") as flags:
        flags.write(EXTRA_FLAG)
    return directory
