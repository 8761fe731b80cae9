"""Integration fixtures: each test gets its own vhost, database and key ring."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import Services, create_services, drop_services


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    created = create_services(tmp_path)
    yield created
    drop_services(created)
