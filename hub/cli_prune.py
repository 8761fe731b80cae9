"""`sesshu prune`: retention applied to the hub's database now (hub workers also do it every
SESSHU_RETENTION__INTERVAL_SECONDS). The adapters' databases and folders are pruned by
`sesshu stack prune`, since the hub imports no adapter."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from hub.cli_common import settings_or_exit
from hub.cli_desk import on_desk
from hub.desk import Desk, cli_actor, cli_terminal
from hub.retention import Periods, report
from routing.policy import load_policy

__all__ = ["prune"]


def prune(
    *,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print what would go, by kind and age; change nothing")
    ] = False,
) -> None:
    """Remove what is past its retention: journal payload bytes past their period (their
    metadata and SHA-256 kept, so `sesshu audit verify` still passes) and 情報提供等記録
    past their seven years; audited with the counts."""
    settings = settings_or_exit()

    async def run(desk: Desk) -> list[str]:
        periods = Periods.of(load_policy(settings.routing.directory()), settings)
        pruned = await desk.prune(
            periods,
            batch=settings.retention.batch,
            dry_run=dry_run,
            actor=cli_actor(),
            terminal=cli_terminal(),
        )
        return report(pruned, datetime.now(UTC), dry_run=dry_run)

    for line in on_desk(settings, run):
        typer.echo(line)
