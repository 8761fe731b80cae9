"""What every `sesshu` command shares: settings or a clear exit, logging, durations."""

from __future__ import annotations

from datetime import timedelta
from typing import NoReturn

import typer
from pydantic import ValidationError

from hub.settings import Settings
from hub.settings import load as load_settings
from observability import logs

__all__ = ["configure_logging", "duration", "fail", "settings_or_exit"]


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


def fail(message: str) -> NoReturn:
    """`error: message` on stderr, exit 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)
