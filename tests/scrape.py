"""Scraping the processes' `/metrics` and checking what they export: `promtool check
metrics` passes, and every label is one of `observability.metrics.LABELS` with a value
from a bounded set (a kind, a decision, a reason code, a configured city...)."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable

import httpx2
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from hub.telemetry import DECISIONS, KINDS
from observability.metrics import ADAPTER_EVENTS, DESK, LABELS, OTHER, exported

__all__ = ["desk_metrics", "label_problems", "promtool_problems", "scrape"]

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-", re.IGNORECASE)
_DIGITS = re.compile(r"[0-9]{7,}")
# Metrics whose values may be long numbers (versions, bucket bounds).
_NUMERIC_LABELS = frozenset({"le", "version", "python", "patchlevel", "status"})


def scrape(port: int) -> str:
    """A process's `/metrics`, in the Prometheus text format."""
    return httpx2.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text


def desk_metrics() -> str:
    """What this process's desk (the e2e tests run it in-process) exports."""
    return generate_latest(exported(DESK)).decode()


def promtool_problems(text: str) -> str:
    """What `promtool check metrics` says is wrong (empty: nothing)."""
    tool = shutil.which("promtool")
    assert tool is not None, "promtool is missing (scripts/tools.sh installs prometheus)"
    done = subprocess.run(
        [tool, "check", "metrics"], input=text.encode(), capture_output=True, check=False
    )
    return "" if done.returncode == 0 else (done.stdout + done.stderr).decode()


def label_problems(text: str, cities: Iterable[str]) -> list[str]:
    """Every sample whose label is not on the allow-list or whose value is not from its
    bounded set; names the metric and label, never the value beyond its shape."""
    bounded = {
        "kind": KINDS | {"unknown", OTHER},
        "decision": {*DECISIONS.values(), "duplicate"},
        "municipality": {*cities, OTHER},
        "exchange": {"sesshu.deliver", "sesshu.dead", "sesshu.ingress", OTHER},
        "stage": {"committed", "confirmed"},
        "event": set(ADAPTER_EVENTS),
    }
    problems = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            for label, value in sample.labels.items():
                where = f"{sample.name}{{{label}}}"
                if label not in LABELS:
                    problems.append(f"{where}: label not on the allow-list")
                elif label in bounded and value not in bounded[label]:
                    problems.append(f"{where}: a value outside its set")
                elif _UUID.search(value):
                    problems.append(f"{where}: an id in a label value")
                elif label not in _NUMERIC_LABELS and _DIGITS.search(value):
                    problems.append(f"{where}: a long number in a label value")
    return problems
