"""What every `sesshu` command shares: settings or a clear exit, logging, durations."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import NoReturn

import typer
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from hub.settings import Settings
from hub.settings import load as load_settings
from observability import logs, metrics, tracing

__all__ = ["configure_logging", "duration", "fail", "settings_or_exit", "start_telemetry"]


def duration(text: str) -> timedelta:
    """`7d`, `12h`, `30m` as a timedelta; a bad one is a --since error."""
    units = {"d": "days", "h": "hours", "m": "minutes"}
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit():
        raise typer.BadParameter("use a number and d, h or m, e.g. 7d", param_hint="--since")
    return timedelta(**{units[text[-1]]: int(text[:-1])})


def settings_or_exit() -> Settings:
    """The settings, or exit 2 naming every unknown variable and bad value (never the value)."""
    try:
        return load_settings()
    except ValidationError as exc:
        for error in exc.errors(include_input=False, include_url=False):
            where = ".".join(str(p) for p in error["loc"])
            typer.echo(f"error: setting {where}: {error['msg']}", err=True)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2)


def configure_logging(settings: Settings) -> None:
    """JSON logs at the configured level."""
    logs.configure(settings.log_level)


def start_telemetry(settings: Settings, service: str, *registries: CollectorRegistry) -> None:
    """This process's tracer provider (`service` names it in traces) and its `/metrics` of
    `registries`, where a port is set; logged once, at start."""
    telemetry = settings.telemetry
    if tracing.configure(
        service,
        enabled=telemetry.tracing,
        otlp_endpoint=telemetry.otlp_endpoint,
        sample_ratio=telemetry.sample_ratio,
    ):
        AsyncPGInstrumentor().instrument()  # type: ignore[no-untyped-call]  # statements only
    try:
        port = metrics.serve(telemetry.metrics_host, telemetry.metrics_port, *registries)
    except OSError as exc:  # a taken port costs the metrics, not the messages
        logging.getLogger("sesshu.telemetry").error(
            "%s: /metrics not served on port %s: %s", service, telemetry.metrics_port, exc.strerror
        )
        port = None
    logging.getLogger("sesshu.telemetry").info(
        "%s: metrics %s, traces %s",
        service,
        "off" if port is None else f"on {telemetry.metrics_host}:{port}/metrics",
        "off" if not telemetry.tracing else (telemetry.otlp_endpoint or "made, not exported"),
    )


def fail(message: str) -> NoReturn:
    """`error: message` on stderr, exit 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)
