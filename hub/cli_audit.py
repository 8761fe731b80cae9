"""`sesshu audit`: the desk's audit trail verified, checkpointed, searched and reviewed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from contracts.keys import KeyRing, KeyRingError
from hub.approvals import Staff
from hub.audit import AuditRow
from hub.cli_common import duration, fail, settings_or_exit
from hub.cli_desk import AsUser, acting, on_desk, utc
from hub.desk import Desk, cli_terminal
from hub.log_review import JST, PeriodInvalid, ReviewMark, ReviewReport, parse_period

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
            who,
            actor=actor,
            action=action,
            subject=subject,
            since=start,
            limit=limit,
            terminal=cli_terminal(),
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


@audit_app.command("review")
def audit_review(
    *,
    user: AsUser,
    since: Annotated[
        str | None, typer.Option(help="from: 7d, 12h, 30m back from --until, or a time")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="until (excluded): 1d back from now, or a time; now")
    ] = None,
    mark: Annotated[
        bool, typer.Option("--mark", help="append your mark that the period was reviewed")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="the report as JSON")] = False,
) -> None:
    """The periodic review of the audit trail (R17), by an auditor (their municipality's
    rows) or an admin (all): log-ins outside office hours, failed and locked-out log-ins,
    reveals of My Number per account, refusals by reason, accounts unused; with --mark,
    the auditor's mark that the period was reviewed, in the audit chain."""
    try:
        period = parse_period(since, until, datetime.now(UTC))
    except PeriodInvalid as exc:
        fail(f"--{exc.field}: {exc}")
    terminal = cli_terminal()

    async def review(desk: Desk, who: Staff) -> tuple[ReviewMark | None, ReviewReport]:
        if mark:
            return await desk.mark_reviewed(who, period, terminal)
        return None, await desk.review(who, period, terminal)

    marked, made = acting(user, review)
    if as_json:
        typer.echo(json.dumps(made.as_json(), ensure_ascii=False, indent=2))
    else:
        for line in review_lines(made):
            typer.echo(line)
    if marked is not None and not as_json:
        typer.echo(f"marked reviewed: audit row {marked.seq}, sha256 {marked.sha256}")


def _jst(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment.astimezone(JST):%Y-%m-%d %H:%M} JST"


def review_lines(made: ReviewReport) -> list[str]:
    """The report as the command prints it."""
    rules, period = made.rules, made.period
    lines = [
        f"review of {utc(period.since)} to {utc(period.until)}, "
        f"{made.scope or 'every municipality'}; office hours {rules.office_hours} JST "
        f"Mon-Fri, unused after {rules.unused_days} days",
        f"log-ins: {made.logins}, outside office hours: {len(made.outside_hours)}",
        *(f"  {_jst(x.at)}  {x.user_id:<20} {x.client}" for x in made.outside_hours),
        f"failed log-ins: {sum(f.tries for f in made.failed)}, "
        f"locked out: {sum(f.tries for f in made.failed if f.locked)}",
        *(
            f"  {f.user_id:<20} {f.reason:<24} {f.tries:>5} tries from {f.clients} address(es), "
            f"{_jst(f.first)} to {_jst(f.last)}"
            for f in made.failed
        ),
        f"reveals of My Number: {sum(r.reveals for r in made.reveals)}",
        *(
            f"  {r.user_id:<20} {r.reveals:>5} of {r.messages} message(s), last {_jst(r.last)}"
            for r in made.reveals
        ),
        f"refusals: {sum(r.times for r in made.refusals)}",
        *(f"  {r.action:<24} {r.code:<28} {r.times:>5}" for r in made.refusals),
        f"accounts unused for {rules.unused_days} days: {len(made.unused)}",
        *(
            f"  {u.user_id:<20} {u.kind:<7} {','.join(u.roles):<24} last used {_jst(u.last_used)}"
            for u in made.unused
        ),
        f"sha256: {made.sha256}",
    ]
    for m in made.marks:
        same = "this report" if m.period == period and m.sha256 == made.sha256 else "changed since"
        lines.append(
            f"reviewed by {m.by} at {utc(m.at)} (audit row {m.seq}): "
            f"{utc(m.period.since)} to {utc(m.period.until)}, {same}"
        )
    return lines
