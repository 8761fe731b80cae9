"""Fixtures of the end-to-end tests: the whole stack as processes, started once per module
(each test uses people of its own, so the tests do not see each other's traffic)."""

from __future__ import annotations

import logging
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from hub.settings import Settings
from tests.conftest import EXTRA_FLAG
from tests.e2e.stack import Stack
from tests.harness import Services, create_services, drop_services


@pytest.fixture(scope="module")
def module_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """A vhost, databases and a key ring for the module (the cities' and the network's
    databases are named after it, so dropping the services drops them too)."""
    created = create_services(tmp_path_factory.mktemp("services"))
    yield created
    drop_services(created)


@pytest.fixture(scope="module")
def module_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample policy plus the flag on VRS transfer-out provisions (EXTRA_FLAG)."""
    directory = tmp_path_factory.mktemp("policy") / "policy"
    shutil.copytree(Settings().routing.directory(), directory)
    with (directory / "auto_response_disabled.csv").open("a") as flags:
        flags.write(EXTRA_FLAG)
    return directory


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(
    module_services: Services, module_policy: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """The hub, the network and both cities' adapters, until the module's tests end."""
    running = Stack(
        module_services,
        tmp_path_factory.mktemp("stack"),
        # INFO, as the demo logs: start-up, decisions and refusals, each scanned for
        # personal data by the last test.
        extra_env={"SESSHU_ROUTING__POLICY_DIR": str(module_policy), "SESSHU_LOG_LEVEL": "INFO"},
    )
    try:
        await running.start()
    except AssertionError:
        running.stop()
        raise AssertionError(running.logs()) from None
    yield running
    codes = running.stop()
    assert set(codes.values()) == {0}, (codes, running.logs())


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(scope="module", autouse=True)
def desk_logs() -> Iterator[list[str]]:
    """Every log line the module's in-process desk and stores write (the processes' logs
    are in their files), for the scan for personal data at the end."""
    kept = _Kept()
    logger = logging.getLogger("sesshu")
    level = logger.level
    logger.addHandler(kept)
    logger.setLevel(logging.DEBUG)
    yield kept.lines
    logger.removeHandler(kept)
    logger.setLevel(level)
