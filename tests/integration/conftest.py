"""Integration fixtures: each test gets its own vhost, database and key ring."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.settings import Settings
from tests.harness import Services, create_services, drop_services

# The desk tests' policy also flags transfer-out provisions (they carry My Number), so
# reveal has something to reveal.
EXTRA_FLAG = "vrs,*,S19-16,covid.vaccination_record,covid-vaccination\n"


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
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
