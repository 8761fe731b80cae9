"""`sesshu held`: the messages held for a 所属長, listed, shown masked, approved, rejected."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from contracts.codes import CodeError, LocalGovCode
from hub import service
from hub.approvals import Held
from hub.cli_common import settings_or_exit
from hub.cli_desk import AsUser, acting, utc
from hub.desk import HeldRow, HeldView, cli_terminal
from hub.settings import Settings

__all__ = ["held_app"]

held_app = typer.Typer(help="Messages held for a 所属長's approval.", no_args_is_help=True)

MessageId = Annotated[str, typer.Argument(metavar="MESSAGE_ID", help="the held message's id")]


@held_app.command("list")
def held_list(
    municipality: Annotated[str, typer.Option(help="6-digit local-government code")],
) -> None:
    """The messages of a municipality waiting for approval, oldest first (no content)."""
    try:
        code = LocalGovCode(municipality)
    except CodeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    rows = asyncio.run(_held(settings_or_exit(), code))
    now = datetime.now(UTC)
    typer.echo(f"{len(rows)} held in {code}")
    for row in rows:
        age = now - row.held_at
        expires = f"{row.expires_at:%Y-%m-%d %H:%M} UTC"
        typer.echo(
            f"{row.message_id}  {row.routing_key:<24} {row.reason_code:<24} "
            f"held {age.total_seconds() / 3600:.1f} h, expires {expires}"
        )


async def _held(settings: Settings, municipality: str) -> list[HeldRow]:
    store = await service.open_store(settings)
    if store is None:  # pragma: no cover - only with a stop event
        return []
    try:
        return await store.held(municipality)
    finally:
        await store.close()


@held_app.command("show")
def held_show(message_id: MessageId, *, user: AsUser) -> None:
    """A held message as its approver sees it: My Number masked, with the content hash."""
    view = acting(user, lambda desk, who: desk.show(who, message_id, cli_terminal()))
    for line in _held_lines(view):
        typer.echo(line)
    if view.review is not None:
        for label, value in view.review.asks + view.review.subject:
            typer.echo(f"{label}: {value}")
        typer.echo(f"提供内容 · Outcome: {view.review.outcome}")
        for number, item in enumerate(view.review.items, 1):
            typer.echo(f"  [{number}] " + ", ".join(f"{k}: {v}" for k, v in item))
    elif view.unreadable is not None:
        typer.echo(f"review    unreadable ({view.unreadable}): it may only be rejected")
    typer.echo(json.dumps(view.envelope, indent=2, ensure_ascii=False))


def _held_lines(view: HeldView) -> list[str]:
    row = view.row
    lines = [
        f"message   {row.message_id}",
        f"state     {row.state} ({row.reason_code})",
        f"kind      {row.kind} {row.procedure} from {row.sender_system} "
        f"of {row.sender_municipality}",
        f"for       {row.municipality} {row.department}",
        f"held      {utc(row.held_at)}, expires {utc(row.expires_at)}",
    ]
    if row.decided_by is not None:
        lines.append(f"decided   by {row.decided_by} at {utc(row.decided_at)}")
    masked = ", ".join(view.masked_paths) or "none"
    return [*lines, f"masked    {masked}", f"sha256    {view.content_sha256 or '-'}"]


@held_app.command("approve")
def held_approve(
    message_id: MessageId,
    *,
    user: AsUser,
    comment: Annotated[str | None, typer.Option(help="a note for the audit trail")] = None,
    sha256: Annotated[
        str | None,
        typer.Option(help="refuse unless the content is still what `held show` printed"),
    ] = None,
) -> None:
    """Approve a held message: it is released with the hub's signed attestation."""
    held = acting(
        user,
        lambda desk, who: desk.approve(
            who, message_id, terminal=cli_terminal(), comment=comment, content_sha256=sha256
        ),
    )
    typer.echo(_decided(held))


@held_app.command("reject")
def held_reject(
    message_id: MessageId,
    *,
    user: AsUser,
    comment: Annotated[str, typer.Option(help="why (required; goes to the audit trail)")],
) -> None:
    """Reject a held message; its sender and its recipient get a rejection notice."""
    held = acting(
        user,
        lambda desk, who: desk.reject(who, message_id, terminal=cli_terminal(), comment=comment),
    )
    typer.echo(_decided(held))


def _decided(held: Held) -> str:
    return f"{held.state.value} {held.message_id} by {held.decided_by} at {utc(held.decided_at)}"
