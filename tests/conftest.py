"""Shared fixtures: every test runs with no SESSHU_* variable from the caller's shell."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _clean_sesshu_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SESSHU_"):
            monkeypatch.delenv(name)
