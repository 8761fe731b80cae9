"""The operations files hold together, checked by the tools that read them and without a
service: the compose file (`docker compose config`), Prometheus's configuration and alert
rules with their unit tests (promtool), Alertmanager's (amtool), the Grafana dashboard,
every metric they query (exported by observability.metrics or named in
tests.operations.EXTERNAL_METRICS) and every runbook link (a section of the README).

A missing tool skips its test on a workstation and fails it in CI (`CI=true`), where
scripts/tools.sh has installed it.
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.operations import (
    ALERT_TESTS,
    ALERTS,
    COMPOSE,
    DASHBOARD,
    EXTERNAL_METRICS,
    as_promql,
    dashboard_expressions,
    exported_metrics,
    metric_names,
    queried_metrics,
    rule_expressions,
)

COMPOSE_FILE = COMPOSE / "docker-compose.yml"
PROMETHEUS = COMPOSE / "prometheus" / "prometheus.yml"
ALERTMANAGER = COMPOSE / "alertmanager" / "alertmanager.yml"
DATASOURCES = COMPOSE / "grafana" / "provisioning" / "datasources" / "sesshu.yml"
README = COMPOSE.parent / "README.md"
RUNBOOK = "https://github.com/sesshu-hub/sesshu-hub#"

SERVICES = {"pod", "rabbitmq", "postgres", "postgres-exporter", "provision", "hub", "desk"}
SERVICES |= {"network", "health_mgmt", "intermediate", "vrs", "kiosk"}
SERVICES |= {"prometheus", "alertmanager", "grafana", "jaeger"}


def missing(what: str) -> None:
    """Skip for a tool that is not installed, or fail in CI, which must have it."""
    message = f"{what} is not installed (scripts/tools.sh installs it)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def tool(name: str) -> str:
    """The path of a command-line tool (absent: `missing`)."""
    path = shutil.which(name)
    if path is None:
        missing(name)
    assert path is not None
    return path


def compose_command() -> list[str]:
    """`docker compose` where the plugin exists, else the standalone `docker-compose`."""
    docker = shutil.which("docker")
    if docker is not None:
        plugin = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
        if plugin.returncode == 0:
            return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    if standalone is None:
        missing("neither `docker compose` nor `docker-compose`")
    assert standalone is not None
    return [standalone]


def run(*command: str | Path) -> subprocess.CompletedProcess[str]:
    """A command's result, its output as text."""
    return subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, check=False, timeout=90
    )


def passes(*command: str | Path) -> str:
    """A command's output, asserting it exited 0."""
    result = run(*command)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


# -- compose ---------------------------------------------------------------------------


def test_compose_config_accepts_the_file_with_every_service() -> None:
    services = passes(*compose_command(), "-f", COMPOSE_FILE, "config", "--services")
    assert set(services.split()) >= SERVICES


def test_prometheus_scrapes_every_metrics_port_the_compose_file_sets() -> None:
    ports = set(re.findall(r'METRICS_PORT: "(\d+)"', COMPOSE_FILE.read_text(encoding="utf-8")))
    scraped = set(re.findall(r'"pod:(\d+)"', PROMETHEUS.read_text(encoding="utf-8")))
    assert ports
    assert ports <= scraped


# -- Prometheus and Alertmanager -------------------------------------------------------


def test_prometheus_config_is_valid_with_its_rule_files() -> None:
    # promtool resolves rule_files beside the configuration and checks them too.
    output = passes(tool("promtool"), "check", "config", PROMETHEUS)
    assert "1 rule files found" in output


def test_alert_rules_are_valid() -> None:
    passes(tool("promtool"), "check", "rules", ALERTS)


def test_alert_rules_pass_their_unit_tests() -> None:
    passes(tool("promtool"), "test", "rules", ALERT_TESTS)


def test_alertmanager_config_is_valid() -> None:
    passes(tool("amtool"), "check-config", ALERTMANAGER)


def alert_names() -> list[str]:
    """Every alert of alerts.yml, in order."""
    return re.findall(r"^\s*- alert:\s*(\S+)\s*$", ALERTS.read_text(encoding="utf-8"), re.M)


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    cases: dict[str, set[bool]] = {}
    alertname = None
    for line in ALERT_TESTS.read_text(encoding="utf-8").splitlines():
        named = re.match(r"^\s*alertname:\s*(\S+)\s*$", line)
        if named:
            alertname = named[1]
        expected = re.match(r"^\s*exp_alerts:\s*(.*?)\s*$", line)
        if expected and alertname is not None:
            cases.setdefault(alertname, set()).add(expected[1] != "[]")
    assert set(cases) == set(alert_names())
    assert {name: {True, False} for name in cases} == cases


def rule_blocks() -> dict[str, str]:
    """Each alert's text in alerts.yml, by name."""
    chunks = re.split(r"^\s*- alert:\s*", ALERTS.read_text(encoding="utf-8"), flags=re.M)[1:]
    return {chunk.split()[0]: chunk for chunk in chunks}


@pytest.mark.parametrize("alert", alert_names())
def test_every_alert_has_a_severity_a_summary_a_description_and_a_runbook(alert: str) -> None:
    block = rule_blocks()[alert]
    assert re.search(r"^\s*severity:\s*(critical|warning)\s*$", block, re.M)
    for annotation in ("summary", "description"):
        assert re.search(rf"^\s*{annotation}:\s*\S", block, re.M), annotation
    assert re.search(rf"^\s*runbook_url:\s*{re.escape(RUNBOOK)}runbook-[a-z0-9-]+\s*$", block, re.M)


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_runbook_url_is_a_section_of_the_readme() -> None:
    headings = re.findall(r"^#{2,4} (.+)$", README.read_text(encoding="utf-8"), re.M)
    anchors = {github_anchor(heading) for heading in headings}
    linked = re.findall(rf"runbook_url:\s*{re.escape(RUNBOOK)}(\S+)", ALERTS.read_text("utf-8"))
    assert len(linked) == len(alert_names())
    assert set(linked) <= anchors


def test_one_expression_is_read_per_rule() -> None:
    rules = re.findall(r"^\s*- (?:alert|record):", ALERTS.read_text(encoding="utf-8"), re.M)
    expressions = rule_expressions()
    assert len(expressions) == len(rules)
    assert all(expressions)


# -- the dashboard -------------------------------------------------------------------


def dashboard() -> dict[str, Any]:
    """The dashboard's JSON."""
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def provisioned_uid(kind: str) -> str:
    """The uid of the provisioned data source of a type."""
    text = DATASOURCES.read_text(encoding="utf-8")
    for block in re.split(r"^\s*- name:", text, flags=re.M)[1:]:
        if re.search(rf"^\s*type:\s*{kind}\s*$", block, re.M):
            uid = re.search(r"^\s*uid:\s*(\S+)\s*$", block, re.M)
            assert uid, f"the {kind} data source has no uid"
            return uid[1]
    raise AssertionError(f"no {kind} data source in {DATASOURCES}")


def test_dashboard_is_grafana_json_on_the_provisioned_data_source() -> None:
    board, uid = dashboard(), provisioned_uid("prometheus")
    assert isinstance(board["schemaVersion"], int)
    assert board["uid"]
    assert board["title"]
    panels = board["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    charts = [panel for panel in panels if panel["type"] != "row"]
    assert charts
    for panel in charts:
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"}, panel["title"]
        assert panel["datasource"]["uid"] == uid, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            assert target["datasource"]["uid"] == uid, panel["title"]


def test_every_dashboard_query_is_promql(tmp_path: Path) -> None:
    # promtool parses what it checks: each query as a recording rule (JSON is YAML).
    rules = [
        {"record": f"dashboard_query_{number}", "expr": as_promql(expr)}
        for number, expr in enumerate(dashboard_expressions())
    ]
    assert rules
    file = tmp_path / "dashboard.rules.yml"
    file.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}), "utf-8")
    passes(tool("promtool"), "check", "rules", file)


def test_the_dashboard_shows_what_operators_ask_for() -> None:
    queried = set().union(*(metric_names(expr) for expr in dashboard_expressions()))
    assert {
        "sesshu_messages_received_total",
        "sesshu_messages_processed_total",
        "sesshu_processing_seconds_bucket",
        "sesshu_held_messages",
        "sesshu_held_oldest_timestamp_seconds",
        "rabbitmq_queue_messages",
        "sesshu_outbox_oldest_unpublished_seconds",
        "sesshu_broker_connected",
        "sesshu_database_up",
        "pg_up",
        "sesshu_desk_decisions_total",
    } <= queried


# -- metrics -----------------------------------------------------------------------------


def test_every_queried_metric_is_exported_or_known_to_come_from_elsewhere() -> None:
    unknown = queried_metrics() - exported_metrics() - set(EXTERNAL_METRICS)
    assert not unknown, f"queried, but nobody exports them: {sorted(unknown)}"


def test_every_metric_known_to_come_from_elsewhere_is_queried() -> None:
    # The list stays what the files use, not what they once did.
    assert set(EXTERNAL_METRICS) <= queried_metrics()


def test_exported_metrics_are_the_names_scraped() -> None:
    exported = exported_metrics()
    assert {"sesshu_messages_received_total", "sesshu_outbox_depth"} <= exported
    assert {"sesshu_processing_seconds_bucket", "sesshu_build_info"} <= exported
    assert "sesshu_messages_received" not in exported


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("up == 0", {"up"}),
        (
            "histogram_quantile(0.99, sum by (le, stage) (rate(a_seconds_bucket[5m])))",
            {"a_seconds_bucket"},
        ),
        ('a{queue="hub dead", b=~"x|y"} / on (c) group_left(d) e offset 10m', {"a", "e"}),
        ("sum without (instance) (rate(a_total[$__rate_interval]))", {"a_total"}),
        ("time() - min by (municipality) (a > 0) > 1e3", {"a"}),
        ("(sum(rate(a_total[5m])) or vector(0)) == bool 0", {"a_total"}),
        ('label_replace(up, "dst", "$1", "src", "(.*)")', {"up"}),
        ("count by (version) (a_info)  # a comment naming not_a_metric", {"a_info"}),
        ("max_over_time(a[1h:5m]) unless ignoring(job) b:recorded", {"a", "b:recorded"}),
        ("topk(3, sum by (kind) (increase(a_total[$__range])))", {"a_total"}),
    ],
)
def test_metric_names_reads_promql(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


# -- the image -------------------------------------------------------------------------


def dockerfile_scripts() -> dict[str, str]:
    """The Python scripts the Dockerfile writes with a here-document, by their path."""
    text = (COMPOSE / "Dockerfile").read_text(encoding="utf-8")
    found = re.findall(r"<<'EOF' (\S+)\n#!/usr/local/bin/python\n(.*?)\nEOF\n", text, re.S)
    return dict(found)


def test_the_images_python_scripts_compile_and_import_what_exists() -> None:
    scripts = dockerfile_scripts()
    assert set(scripts) == {
        "/usr/local/bin/sesshu-compose-provision",
        "/usr/local/libexec/sesshu-compose/rabbitmqctl",
    }
    for path, source in scripts.items():
        tree = compile(source, path, "exec", flags=ast.PyCF_ONLY_AST)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                module = importlib.import_module(node.module)
                for alias in node.names:
                    assert hasattr(module, alias.name), f"{path}: {node.module}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    importlib.import_module(alias.name)
