"""Fixtures of the end-to-end tests: the whole stack, started and stopped per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.stack import Stack, drop_adapter_databases
from tests.harness import Services


@pytest.fixture
async def stack(services: Services, policy_dir: Path, tmp_path: Path) -> AsyncIterator[Stack]:
    running = Stack(
        services,
        tmp_path / "stack",
        extra_env={"SESSHU_ROUTING__POLICY_DIR": str(policy_dir)},
    )
    try:
        await running.start()
    except AssertionError:
        running.stop()
        raise AssertionError(running.logs()) from None
    yield running
    codes = running.stop()
    await drop_adapter_databases(services.database)
    assert set(codes.values()) == {0}, (codes, running.logs())
