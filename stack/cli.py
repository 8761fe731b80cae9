"""`sesshu stack`: keys for every adapter, one city's adapters, the network, or everything
(`up`: the hub, the desk, the network and every city's adapters, until Ctrl-C)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from adapters.intermediate.fukuhon import (
    Mismatch,
    check_against_original,
    mismatches_csv,
    reconciliation_csv,
)
from adapters.ports import History
from adapters.store.atrest import DataKeyError
from adapters.store.db import AdapterDb
from adapters.store.intermediate import PgFukuhon
from adapters.store.systems import PgResidents
from hub.cli_common import settings_or_exit
from hub.settings import Settings
from observability import logs
from stack.cli_data_key import data_key_app
from stack.data_keys import city_data_keys
from stack.demo import run_demo
from stack.host import run_city, run_network
from stack.keys import provision_keys
from stack.processes import Processes, stack_commands
from stack.prune import prune_command
from stack.walkthrough import run as run_walkthrough

__all__ = ["demo_app", "stack_app"]

stack_app = typer.Typer(
    help="The adapters of the five systems, and the whole stack.", no_args_is_help=True
)
stack_app.add_typer(data_key_app, name="data-key")
stack_app.command("prune")(prune_command)


@stack_app.command("keys")
def keys() -> None:
    """Generate the keys the adapters (and the hub) lack; print the ids made."""
    settings = settings_or_exit()
    made = provision_keys(
        settings.adapters.municipalities,
        settings.adapters.key_dir,
        settings.signing.ring_dir,
        data_key_dir=settings.adapters.data_key_dir,
        review_key_dir=settings.desk.review_key_dir,
    )
    for key_id in made:
        typer.echo(key_id)


def _serve(run: object) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, _stopping, stop)
        await run(stop)  # type: ignore[operator]

    asyncio.run(main())


def _stopping(stop: asyncio.Event) -> None:
    # One signal starts the drain; another (a terminal's Ctrl-C and a supervisor's SIGTERM
    # often both come) must not kill the process in the middle of it, nor once the loop
    # has closed and the default action would apply again.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stop.set()


@stack_app.command("city")
def city(code: Annotated[str, typer.Argument(help="6-digit local-government code")]) -> None:
    """Run one city's adapters until SIGTERM or Ctrl-C."""
    settings = settings_or_exit()
    try:  # a missing data key is a configuration error: say so before starting
        city_data_keys(settings, code)
    except DataKeyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    _serve(lambda stop: run_city(settings, code, stop))


@stack_app.command("network")
def network() -> None:
    """Run the information-provision network until SIGTERM or Ctrl-C."""
    settings = settings_or_exit()
    _serve(lambda stop: run_network(settings, stop))


@stack_app.command("up")
def up() -> None:
    """Start the hub, the desk, the network and every city's adapters; Ctrl-C stops all."""
    settings = settings_or_exit()
    provision_keys(
        settings.adapters.municipalities,
        settings.adapters.key_dir,
        settings.signing.ring_dir,
        data_key_dir=settings.adapters.data_key_dir,
        review_key_dir=settings.desk.review_key_dir,
    )
    env = dict(os.environ)
    if settings.signing.hub_key_file is None:
        hub_keys = sorted(settings.adapters.key_dir.glob("hub-*.signing.pem"))
        env["SESSHU_SIGNING__HUB_KEY_FILE"] = str(hub_keys[-1])
    processes = Processes(env)  # in this terminal, as the operator asked for them
    processes.start_all(stack_commands(settings.adapters.municipalities))
    typer.echo(f"started {len(processes.children)} processes; Ctrl-C stops them")
    processes.wait_any()
    codes = processes.stop()
    raise typer.Exit(max(codes.values(), default=0))


@stack_app.command("reconcile")
def reconcile(
    code: Annotated[str, typer.Argument(help="6-digit local-government code")],
    out: Annotated[Path, typer.Option(help="folder for the two CSV files")] = Path(
        "var/reconciliation"
    ),
) -> None:
    """R46: check a city's 副本 against health management's original; exit 1 on mismatches."""
    settings = settings_or_exit()
    try:
        kept, mismatches = asyncio.run(_reconcile(settings, code))
    except DataKeyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (out / f"fukuhon-{code}-{stamp}.csv").write_text(reconciliation_csv(kept), encoding="utf-8")
    report = out / f"mismatches-{code}-{stamp}.csv"
    report.write_text(mismatches_csv(mismatches), encoding="utf-8")
    typer.echo(f"{len(kept)} 副本 checked, {len(mismatches)} mismatch(es); {report}")
    if mismatches:
        raise typer.Exit(1)


async def _reconcile(settings: Settings, code: str) -> tuple[dict[str, History], list[Mismatch]]:
    keys = city_data_keys(settings, code)
    db = await AdapterDb.open(settings.adapters.database_for(code), size=1)
    try:
        return await check_against_original(PgFukuhon(db), PgResidents(db, keys))
    finally:
        await db.close()


@stack_app.command("demo")
def demo(
    directory: Annotated[Path, typer.Option("--dir", help="where the demo keeps its files")] = Path(
        "var/demo"
    ),
) -> None:
    """The whole stack and a realistic day, with a live summary; Ctrl-C stops it."""
    settings = settings_or_exit()
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    surprises = asyncio.run(run_demo(settings, directory, interactive, typer.echo))
    if surprises:
        typer.echo(f"{surprises} unexpected result(s)", err=True)
        raise typer.Exit(1)
    typer.echo("all as expected")


demo_app = typer.Typer(
    help="Every message kind signed, verified and sent through a live hub worker, with every "
    "forgery refused (the whole stack: `sesshu stack demo`).",
    invoke_without_command=True,
)


@demo_app.callback()
def walkthrough(
    directory: Annotated[Path, typer.Option("--dir", help="where the demo keeps its files")] = Path(
        "var/demo"
    ),
    offline: Annotated[
        bool, typer.Option(help="skip the part that needs RabbitMQ and PostgreSQL")
    ] = False,
) -> None:
    """Run the demo: keys, every message kind signed and verified, forgeries refused."""
    settings = settings_or_exit()
    logs.configure("WARNING")
    shutil.rmtree(directory / "keys", ignore_errors=True)
    surprises = run_walkthrough(directory, typer.echo, None if offline else settings)
    if surprises:
        typer.echo(f"\n{surprises} unexpected result(s)", err=True)
        raise typer.Exit(1)
    typer.echo("\nall as expected")
