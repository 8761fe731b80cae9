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
from contracts.codes import LocalGovCode, SystemId
from contracts.keys import KeyRing
from hub.cli_common import configure_logging, settings_or_exit, start_telemetry
from hub.custody import CustodyError
from hub.settings import Settings
from observability import logs, metrics
from stack.cli_data_key import data_key_app
from stack.data_keys import city_data_keys
from stack.demo import run_demo
from stack.host import run_network, run_system
from stack.keys import DATA_KEY_SYSTEMS, check_party_folder, provision_keys
from stack.launch import DEFAULT_METRICS_PORT, party_envs
from stack.parties import CITY_SYSTEMS, Party
from stack.processes import Processes, stack_commands
from stack.provision import Place
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
        settings.adapters.key_root,
        settings.signing.ring_dir,
        shc_url=settings.adapters.shc_issuer_url,
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
def city(
    code: Annotated[str, typer.Argument(help="6-digit local-government code")],
    system: Annotated[str, typer.Argument(help="health_mgmt, intermediate, vrs or kiosk")] = "",
) -> None:
    """Run one system of one city until SIGTERM or Ctrl-C, with its own key folder
    (SESSHU_ADAPTERS__KEY_DIR) and broker user (SESSHU_AMQP__URL)."""
    settings = settings_or_exit()
    try:  # configuration errors: said before starting
        party = Party(SystemId(system), str(LocalGovCode(code)))
        if party.system not in CITY_SYSTEMS:
            raise ValueError("not a city's system")
        check_party_folder(
            settings.adapters.key_dir, party, KeyRing.load(settings.signing.ring_dir)
        )
        if party.system in DATA_KEY_SYSTEMS:
            city_data_keys(settings, code)
    except (DataKeyError, CustodyError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except ValueError:
        names = ", ".join(s.value for s in CITY_SYSTEMS)
        typer.echo(f"error: system: one of {names}, and a 6-digit city code", err=True)
        raise typer.Exit(2) from None
    configure_logging(settings)  # JSON lines on stderr: the stack's log file of it
    start_telemetry(settings, f"sesshu-{party.name}", metrics.ADAPTERS)
    _serve(lambda stop: run_system(settings, party, stop))


@stack_app.command("network")
def network() -> None:
    """Run the information-provision network until SIGTERM or Ctrl-C."""
    settings = settings_or_exit()
    try:
        check_party_folder(
            settings.adapters.key_dir, Party(SystemId.NWS), KeyRing.load(settings.signing.ring_dir)
        )
    except CustodyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    configure_logging(settings)
    start_telemetry(settings, "sesshu-network", metrics.ADAPTERS)
    _serve(lambda stop: run_network(settings, stop))


@stack_app.command("up")
def up() -> None:
    """Start the hub, the desk, the network and each system of every city, each with its
    own key folder and broker user (made now); Ctrl-C stops all."""
    settings = settings_or_exit()
    # The vhost `sesshu` and the databases named after it, on the configured servers.
    place = Place(
        UP_PLACE, settings.amqp.url.get_secret_value(), settings.database.url.get_secret_value()
    )
    cities = settings.adapters.municipalities
    envs = asyncio.run(_provisioned(place, settings))
    shared = dict(os.environ) | {
        "SESSHU_DATABASE__URL": place.database_url,
        "SESSHU_ADAPTERS__DATABASE_URL": place.adapters_database_url,
    }
    processes = Processes(shared)  # in this terminal, as the operator asked
    processes.start_all(stack_commands(cities), envs)
    typer.echo(f"started {len(processes.children)} processes; Ctrl-C stops them")
    processes.wait_any()
    codes = processes.stop()
    raise typer.Exit(max(codes.values(), default=0))


UP_PLACE = "sesshu"


async def _provisioned(place: Place, settings: Settings) -> dict[str, dict[str, str]]:
    await place.make()
    return await party_envs(
        place,
        settings.adapters.key_root,
        settings.signing.ring_dir,
        settings.adapters.municipalities,
        shc_url=settings.adapters.shc_issuer_url,
        tls_dir=settings.tls.dir,
        metrics_port=settings.telemetry.metrics_port or DEFAULT_METRICS_PORT,
        roster_dir=settings.adapters.roster_dir,
        terminal_dir=settings.adapters.terminal_dir,
    )


@stack_app.command("reconcile")
def reconcile(
    code: Annotated[str, typer.Argument(help="6-digit local-government code")],
    out: Annotated[Path, typer.Option(help="folder for the two CSV files")] = Path(
        "var/reconciliation"
    ),
) -> None:
    """R46: check a city's 副本 against health management's original (run with health
    management's key folder, whose data key opens it); exit 1 on mismatches."""
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
