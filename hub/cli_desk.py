"""`sesshu desk`, and what the desk's command groups share (`sesshu held`, `sesshu staff`,
`sesshu audit`: cli_held.py, cli_staff.py, cli_audit.py).

Acting as an account (`--as USER`) signs in with its password, so a decision made here is
audited like one made on the page."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import typer
from pydantic import ValidationError

from hub import service, staff
from hub.approvals import Staff
from hub.cli_common import configure_logging, fail, settings_or_exit, start_telemetry
from hub.custody import CustodyError, check_hub_side
from hub.desk import Desk, DeskError, cli_terminal
from hub.errors import DatabaseUnavailable
from hub.settings import Settings
from hub.tls import warn_plaintext
from observability import metrics
from routing.policy import PolicyError

__all__ = [
    "AS_HELP",
    "USER_HELP",
    "AsUser",
    "acting",
    "checked_user",
    "desk_serve",
    "on_desk",
    "utc",
]

T = TypeVar("T")
USER_HELP = "user id: 2-64 of a-z 0-9 . _ - (no names)"
AS_HELP = "the staff account to act as (refused if unknown or disabled)"
AsUser = Annotated[str, typer.Option("--as", metavar="USER", help=AS_HELP)]


def desk_serve() -> None:
    """Serve the approval desk: the HTTP API (OpenAPI at /openapi.json) and the approver
    pages, on SESSHU_DESK__HTTP_HOST:SESSHU_DESK__HTTP_PORT."""
    settings = settings_or_exit()
    try:  # its folders hold only its own keys, or it does not start
        check_hub_side(settings, "desk")
    except CustodyError as exc:
        fail(str(exc))
    configure_logging(settings)
    warn_plaintext(settings, logging.getLogger("sesshu.desk"))
    start_telemetry(settings, "sesshu-desk", metrics.DESK)
    # Imported here: FastAPI and uvicorn are only needed by this command.
    from hub.web.__main__ import serve  # noqa: PLC0415

    serve(settings)


def on_desk(settings: Settings, act: Callable[[Desk], Awaitable[T]]) -> T:
    """Run `act` on the approval desk, then close it; a refusal is `error: ...`, exit 2."""

    async def run() -> T:
        desk = await service.open_desk(settings)
        try:
            return await act(desk)
        finally:
            await desk.store.close()

    try:
        return asyncio.run(run())
    except PolicyError as exc:
        for problem in exc.problems:
            typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(2) from None
    except ValidationError as exc:  # its text would quote the input
        fail(f"{exc.title}: {exc.error_count()} invalid field(s)")
    except (DeskError, DatabaseUnavailable, ValueError) as exc:
        # ValueError: a short password, a hub key file that is not a key.
        fail(str(exc))


def checked_user(user: str, option: str = "USER") -> str:
    """The user id, or exit 2 without echoing it (a mistyped id may be a person's name)."""
    if not staff.USER_ID.fullmatch(user):
        fail(f"{option}: {USER_HELP}")
    return user


def acting(user: str, act: Callable[[Desk, Staff], Awaitable[T]]) -> T:
    """Run `act` on the desk as the named account, signed in with its password (prompted
    for, or one line of stdin when stdin is not a terminal): a decision from the command
    line is as much that person's as one from the page, log-in and log-out audited."""
    checked_user(user, "--as")
    if sys.stdin.isatty():
        password = typer.prompt(f"password of {user}", hide_input=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    terminal = cli_terminal()

    async def run(desk: Desk) -> T:
        secret, who = await desk.login(user, password, terminal)
        try:
            return await act(desk, who)
        finally:
            await desk.logout(secret, terminal)

    return on_desk(settings_or_exit(), run)


def utc(moment: datetime | None) -> str:
    """A time as the desk's commands print it: UTC to the second, or `-`."""
    return "-" if moment is None else f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
