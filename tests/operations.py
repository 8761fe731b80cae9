"""What the operations files query, for the tests that check them against what is exported:
the metric names in the PromQL of the alert rules (compose/prometheus/alerts.yml) and of
the Grafana dashboard (compose/grafana/dashboards/sesshu.json).

`queried_metrics()` is every name they query; `exported_metrics()` every sample name the
registries of observability.metrics expose; `EXTERNAL_METRICS` the names that come from
elsewhere (Prometheus itself, RabbitMQ, the postgres exporter), each with its source.

The rules file is read without a YAML library (the project has none): only its `expr:`
values, plain, quoted or block scalars, which is all this needs;
tests/unit/test_operations.py checks that one is found per rule and promtool checks the
file itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Final

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from observability import metrics

__all__ = [
    "ALERTS",
    "ALERT_TESTS",
    "COMPOSE",
    "DASHBOARD",
    "EXTERNAL_METRICS",
    "as_promql",
    "dashboard_expressions",
    "exported_metrics",
    "metric_names",
    "queried_metrics",
    "rule_expressions",
    "scraped_metrics",
]

ROOT: Final = Path(__file__).resolve().parents[1]
COMPOSE: Final = ROOT / "compose"
ALERTS: Final = COMPOSE / "prometheus" / "alerts.yml"
ALERT_TESTS: Final = COMPOSE / "prometheus" / "alerts.test.yml"
DASHBOARD: Final = COMPOSE / "grafana" / "dashboards" / "sesshu.json"

EXTERNAL_METRICS: Final[dict[str, str]] = {
    # Prometheus writes it for every scrape target: 1 scraped, 0 not.
    "up": "Prometheus (every scrape target)",
    # RabbitMQ's rabbitmq_prometheus plugin (deps/rabbitmq_prometheus, collector
    # prometheus_rabbitmq_core_metrics_collector), per object with labels vhost and queue
    # (prometheus.return_per_object_metrics in compose/rabbitmq.conf).
    "rabbitmq_queue_messages": "rabbitmq_prometheus: ready + unacknowledged, per queue",
    "rabbitmq_queue_messages_ready": "rabbitmq_prometheus: ready to deliver, per queue",
    "rabbitmq_queue_consumers": "rabbitmq_prometheus: consumers, per queue",
    # The same plugin's alarm collector (prometheus_rabbitmq_alarm_metrics_collector).
    "rabbitmq_alarms_memory_used_watermark": "rabbitmq_prometheus: 1 in a memory alarm",
    "rabbitmq_alarms_free_disk_space_watermark": "rabbitmq_prometheus: 1 in a disk alarm",
    # prometheus-community/postgres_exporter: 1 while its last connection succeeded.
    "pg_up": "postgres_exporter",
}
"""Metric names the rules and the dashboard query that no process of ours exports."""

# Sample names prometheus_client exposes for a family of each type (counters as _total).
_SAMPLES: Final[dict[str, tuple[str, ...]]] = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
    "stateset": ("",),
    "unknown": ("",),
}

# What Grafana puts in for its variables before Prometheus sees a query.
_GRAFANA: Final = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "6h"}

# PromQL words that are not metric names where they stand without a `(` after them.
_KEYWORDS: Final = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right"}
    | {"offset", "bool", "inf", "nan", "sum", "min", "max", "avg", "group", "stddev"}
    | {"stdvar", "count", "count_values", "bottomk", "topk", "quantile", "limitk"}
    | {"limit_ratio"}
)
_STRING_OR_COMMENT: Final = re.compile(
    r'"(?:[^"\\\n]|\\.)*"' r"|'(?:[^'\\\n]|\\.)*'" r"|`[^`]*`" r"|#[^\n]*"
)
_MATCHERS: Final = re.compile(r"\{[^{}]*\}")
_RANGES: Final = re.compile(r"\[[^\[\]]*\]")
_GROUPING: Final = re.compile(
    r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
_WORD: Final = re.compile(r"(?<![\w.:$])[A-Za-z_:][\w:]*")
_EXPR_KEY: Final = re.compile(r"^(?P<indent>\s*)(?:-\s+)?expr:\s*(?P<value>.*?)\s*$")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not its functions, aggregations,
    keywords, label names, strings or durations)."""
    text = _STRING_OR_COMMENT.sub(" ", as_promql(expr))
    text = _RANGES.sub(" ", _MATCHERS.sub(" ", text))
    text = _GROUPING.sub(lambda match: f" {match[1]} ", text)
    names = set()
    for match in _WORD.finditer(text):
        called = text[match.end() :].lstrip().startswith("(")
        if not called and match[0].lower() not in _KEYWORDS:
            names.add(match[0])
    return names


def as_promql(expr: str) -> str:
    """A dashboard query as Prometheus receives it, Grafana's variables filled in."""
    for variable, value in _GRAFANA.items():
        expr = expr.replace(variable, value)
    return expr


def rule_expressions(path: Path = ALERTS) -> list[str]:
    """The `expr:` of every rule of a rules file, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found = []
    for number, line in enumerate(lines):
        key = _EXPR_KEY.match(line)
        if key is None:
            continue
        value = key["value"]
        if value[:1] in ("|", ">"):
            found.append(_block(lines[number + 1 :], len(key["indent"])))
        else:
            found.append(_scalar(value))
    return found


def _block(lines: Iterable[str], indent: int) -> str:
    # A block scalar is every following line indented deeper than its key (blank lines
    # too); PromQL reads a folded newline and a kept one alike.
    kept = []
    for line in lines:
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            break
        kept.append(line.strip())
    return "\n".join(kept).strip()


def _scalar(value: str) -> str:
    if value[:1] == "'":
        return value[1:-1].replace("''", "'")
    if value[:1] == '"':
        return str(json.loads(value))
    return re.sub(r"\s+#.*$", "", value)


def dashboard_expressions(path: Path = DASHBOARD) -> list[str]:
    """The `expr` of every target of every panel of a Grafana dashboard (rows included)."""
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    return [
        str(target["expr"])
        for panel in _panels(dashboard.get("panels", []))
        for target in panel.get("targets", [])
        if "expr" in target
    ]


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # a collapsed row holds its panels


def queried_metrics() -> set[str]:
    """Every metric name the alert rules and the dashboard query."""
    expressions = rule_expressions() + dashboard_expressions()
    return set().union(*(metric_names(expr) for expr in expressions))


def exported_metrics(
    registries: Iterable[CollectorRegistry] = (
        metrics.HUB,
        metrics.DESK,
        metrics.ADAPTERS,
        metrics.BUILD,
    ),
) -> set[str]:
    """Every sample name the registries expose (a counter as <name>_total, a histogram as
    _bucket, _sum and _count), whether or not a labelled family has a sample yet."""
    return {
        family.name + suffix
        for registry in registries
        for family in registry.collect()
        for suffix in _SAMPLES[family.type]
    }


def scraped_metrics(text: str) -> set[str]:
    """Every sample name a `/metrics` page declares (by its families' types, so a
    labelled family with no sample yet counts) or shows."""
    names = set()
    for family in text_string_to_metric_families(text):
        names |= {family.name + suffix for suffix in _SAMPLES.get(family.type, ("",))}
        names |= {sample.name for sample in family.samples}
    return names
