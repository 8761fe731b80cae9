"""`sesshu audit`: the desk's audit trail verified, checkpointed and searched."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from contracts.keys import KeyRing, KeyRingError
from hub.audit import AuditRow
from hub.cli_common import duration, fail, settings_or_exit
from hub.cli_desk import AsUser, acting, on_desk, utc
from hub.desk import Desk

__all__ = ["audit_app"]

audit_app = typer.Typer(
    help="The approval desk's tamper-evident audit trail.", no_args_is_help=True
)


@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the hash chain and check every signed checkpoint; exit 1 if tampered."""
    settings = settings_or_exit()
    try:
        ring = KeyRing.load(settings.signing.ring_dir)
    except KeyRingError as exc:
        fail(str(exc))

    async def verify(desk: Desk) -> tuple[int, str | None, int]:
        count, finding = await desk.verify(ring)
        checkpoints = len(await desk.store.checkpoints())
        return count, None if finding is None else str(finding), checkpoints

    count, finding, checkpoints = on_desk(settings, verify)
    if finding is not None:
        typer.echo(f"audit trail broken: {finding}")
        raise typer.Exit(1)
    typer.echo(f"ok: {count} rows, chain intact, {checkpoints} checkpoints")


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign the head of the audit chain with the hub's key, if it moved since the last one."""
    checkpoint = on_desk(settings_or_exit(), lambda desk: desk.checkpoint())
    if checkpoint is None:
        typer.echo("nothing new since the last checkpoint")
        return
    typer.echo(
        f"checkpoint: row {checkpoint.seq} hash {checkpoint.hash} "
        f"signed by {checkpoint.key_id} at {utc(checkpoint.signed_at)}"
    )


@audit_app.command("search")
def audit_search(
    *,
    user: AsUser,
    actor: Annotated[str | None, typer.Option(help="who acted (user id)")] = None,
    action: Annotated[str | None, typer.Option(help="e.g. held.approved, login.failed")] = None,
    subject: Annotated[str | None, typer.Option(help="message id or user id acted on")] = None,
    since: Annotated[str | None, typer.Option(help="how far back: 7d, 12h, 30m")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="rows at most")] = 50,
) -> None:
    """Audit rows, newest first: an auditor sees their municipality's, an admin all."""
    start = None if since is None else datetime.now(UTC) - duration(since)
    rows = acting(
        user,
        lambda desk, who: desk.audit_search(
            who, actor=actor, action=action, subject=subject, since=start, limit=limit
        ),
    )
    typer.echo(f"{len(rows)} row(s), newest first")
    for row in rows:
        typer.echo(_audit_line(row))


def _audit_line(row: AuditRow) -> str:
    client = row.terminal.get("client", "-") if row.terminal else "-"
    return (
        f"{row.seq:>6}  {utc(row.at)}  {row.actor:<16} {row.action:<16} "
        f"{row.subject or '-':<36} {row.municipality or '-':<6} {client}"
    )
