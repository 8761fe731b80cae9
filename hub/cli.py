"""The `sesshu` command line."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from contracts.broker import destinations
from contracts.codes import CodeError, LocalGovCode, SystemId
from contracts.envelope import Envelope
from contracts.keys import KeyRing, KeyRingError, generate_key
from hub import service
from hub.cli_audit import audit_app
from hub.cli_common import configure_logging, duration, settings_or_exit, start_telemetry
from hub.cli_desk import desk_serve
from hub.cli_held import held_app
from hub.cli_prune import prune
from hub.cli_staff import staff_app
from hub.cli_trace import trace
from hub.custody import CustodyError, check_hub_side
from hub.errors import DatabaseUnavailable
from hub.settings import Settings, env_table
from hub.tls import warn_plaintext
from observability import metrics
from routing import compare
from routing.decision import ROUTING_CODES, Context
from routing.policy import Policy, PolicyError, load_policy

app = typer.Typer(
    help="Sesshu Hub: signed, journaled, policy-routed messages.", no_args_is_help=True
)
keys_app = typer.Typer(help="Signing and sealing keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
db_app = typer.Typer(help="The hub's PostgreSQL database.", no_args_is_help=True)
app.add_typer(db_app, name="db")
policy_app = typer.Typer(
    help="The routing policy (permitted-inquiry list, flags).", no_args_is_help=True
)
app.add_typer(policy_app, name="policy")


def _policy(directory: Path) -> Policy:
    try:
        return load_policy(directory)
    except PolicyError as exc:
        for problem in exc.problems:
            typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(2) from None


@policy_app.command("check")
def policy_check(directory: Annotated[Path, typer.Argument(help="policy directory")]) -> None:
    """Check every row of a policy; print its version, or every bad row with its line."""
    policy = _policy(directory)
    typer.echo(
        f"ok: policy {policy.version}, {len(policy.rows)} permitted rows, "
        f"{len(policy.flags)} auto-response-disabled flags"
    )


@policy_app.command("diff")
def policy_diff(
    old: Annotated[Path, typer.Argument(help="policy directory in force")],
    new: Annotated[Path, typer.Argument(help="proposed policy directory")],
) -> None:
    """What the new policy grants (+) and takes away (-), row by row."""
    before, after = _policy(old), _policy(new)
    lines = compare.diff(before, after)
    typer.echo(f"{before.version} -> {after.version}: {len(lines)} change(s)")
    for line in lines:
        typer.echo(line)


@policy_app.command("simulate")
def policy_simulate(
    new: Annotated[Path, typer.Argument(help="proposed policy directory")],
    since: Annotated[str, typer.Option(help="how far back: 7d, 12h, 30m")] = "7d",
) -> None:
    """Replay the journal's routing decisions under a proposed policy; print what changes."""
    policy = _policy(new)
    settings = settings_or_exit()
    window = duration(since)
    replay = compare.Replay(policy, Context(destinations(settings.hub.municipalities)))
    skipped = asyncio.run(_replay(settings, replay, datetime.now(UTC) - window))
    for line in replay.report():
        typer.echo(line)
    if skipped:
        typer.echo(f"  {skipped} journaled message(s) could not be parsed and were skipped")


async def _replay(settings: Settings, replay: compare.Replay, since: datetime) -> int:
    store = await service.open_store(settings)
    if store is None:  # pragma: no cover - only with a stop event
        return 0
    skipped = 0
    try:
        async for body, decision, code in store.journal_since(since, ROUTING_CODES):
            try:
                envelope = Envelope.model_validate_json(body)
            except ValidationError:
                skipped += 1
                continue
            replay.add(envelope, compare.describe(decision, code))
    finally:
        await store.close()
    return skipped


@app.command("hub")
def hub_command(
    workers: Annotated[int, typer.Option(min=1, help="worker processes (competing consumers)")] = 1,
) -> None:
    """Run hub workers until SIGTERM/SIGINT, then drain them and exit 0."""
    settings = settings_or_exit()
    try:  # a hub key that cannot be read is a configuration error: say so before starting
        settings.signing.hub_signer()
        check_hub_side(settings, "hub")
    except (ValueError, CustodyError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    configure_logging(settings)
    if workers == 1:  # each worker process says it once; a supervisor opens no link
        warn_plaintext(settings, logging.getLogger("sesshu.hub"))
        start_telemetry(settings, "sesshu-hub", metrics.HUB, metrics.DESK)
        raise typer.Exit(service.run_worker_process(settings))
    raise typer.Exit(
        service.supervise(workers, ["hub", "--workers", "1"], settings.telemetry.metrics_port)
    )


@db_app.command("migrate")
def db_migrate() -> None:
    """Create the database if needed and apply pending migrations."""
    settings = settings_or_exit()

    async def _migrate() -> list[str]:
        store = await service.open_store(settings)
        if store is None:  # only when a stop event is given, and none is
            return []
        try:
            return await store.migrate()
        finally:
            await store.close()

    try:
        applied = asyncio.run(_migrate())
    except DatabaseUnavailable as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo("\n".join(applied) if applied else "database is up to date")


@keys_app.command("generate")
def keys_generate(
    system: Annotated[SystemId, typer.Option(help="system the key signs for")],
    out: Annotated[Path, typer.Option(help="directory to write the key files into")],
    municipality: Annotated[
        str | None, typer.Option(help="6-digit local-government code (omit only for hub, nws)")
    ] = None,
    valid_days: Annotated[int, typer.Option(min=1, help="validity window in days")] = 365,
    key_id: Annotated[str | None, typer.Option(help="key id (default: generated)")] = None,
) -> None:
    """Write a signing + sealing key pair and its key-ring entry into OUT."""
    try:
        code = None if municipality is None else LocalGovCode(municipality)
        generated = generate_key(system, code, valid_for=timedelta(days=valid_days), key_id=key_id)
        paths = generated.write(out)
    except (CodeError, KeyRingError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for path in paths:
        typer.echo(str(path))


@keys_app.command("list")
def keys_list(ring: Annotated[Path, typer.Option(help="key-ring directory")]) -> None:
    """List the entries of a key ring, checking every file."""
    try:
        loaded = KeyRing.load(ring)
    except KeyRingError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for entry in loaded:
        state = "revoked" if entry.revoked else "active"
        where = entry.municipality or "shared"
        typer.echo(
            f"{entry.key_id}\t{entry.system.value}\t{where}\t{state}\t"
            f"{entry.not_before:%Y-%m-%d}..{entry.not_after:%Y-%m-%d}"
        )


@app.command("settings")
def settings_table() -> None:
    """Print every SESSHU_* setting as a Markdown table."""
    typer.echo("| variable | default | meaning |\n| --- | --- | --- |")
    for variable, default, description in env_table():
        typer.echo(f"| `{variable}` | `{default}` | {description} |")


# -- the approval desk ----------------------------------------------------------------


app.add_typer(held_app, name="held")
app.add_typer(staff_app, name="staff")
app.add_typer(audit_app, name="audit")
app.command("desk")(desk_serve)
app.command("prune")(prune)
app.command("trace")(trace)
# The adapters' commands (`sesshu cert`, ...), registered as `sesshu.commands` entry points.
for _plugin in entry_points(group="sesshu.commands"):
    app.add_typer(_plugin.load(), name=_plugin.name)
