"""`sesshu held|staff|audit` and `sesshu desk`: the approval desk from the command line.

Acting as an account (`--as USER`) signs in with its password, so a decision made here is
audited like one made on the page."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError

from contracts.codes import CodeError, LocalGovCode
from contracts.keys import KeyRing, KeyRingError
from hub import service, staff
from hub.approvals import Held, Role, Staff
from hub.audit import AuditRow
from hub.cli_common import configure_logging, duration, fail, settings_or_exit
from hub.desk import Desk, DeskError, HeldView, StaffRow, cli_terminal
from hub.errors import DatabaseUnavailable
from hub.settings import Settings
from routing.policy import PolicyError

__all__ = ["audit_app", "desk_serve", "held_app", "staff_app"]

held_app = typer.Typer(help="Messages held for a 所属長's approval.", no_args_is_help=True)
staff_app = typer.Typer(
    help="Staff accounts of the approval desk (one per person, or a system's).",
    no_args_is_help=True,
)
audit_app = typer.Typer(
    help="The approval desk's tamper-evident audit trail.", no_args_is_help=True
)

T = TypeVar("T")
USER_HELP = "user id: 2-64 of a-z 0-9 . _ - (no names)"
AS_HELP = "the staff account to act as (refused if unknown or disabled)"


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
        age = now - row["held_at"]
        expires = f"{row['expires_at']:%Y-%m-%d %H:%M} UTC"
        typer.echo(
            f"{row['message_id']}  {row['routing_key']:<24} {row['reason_code']:<24} "
            f"held {age.total_seconds() / 3600:.1f} h, expires {expires}"
        )


async def _held(settings: Settings, municipality: str) -> list[dict[str, Any]]:
    store = await service.open_store(settings)
    if store is None:  # pragma: no cover - only with a stop event
        return []
    try:
        return await store.held(municipality)
    finally:
        await store.close()


def desk_serve() -> None:
    """Serve the approval desk: the HTTP API (OpenAPI at /openapi.json) and the approver
    pages, on SESSHU_DESK__HTTP_HOST:SESSHU_DESK__HTTP_PORT."""
    settings = settings_or_exit()
    configure_logging(settings)
    # Imported here: FastAPI and uvicorn are only needed by this command.
    from hub.web.__main__ import serve  # noqa: PLC0415

    serve(settings)


def _on_desk(settings: Settings, act: Callable[[Desk], Awaitable[T]]) -> T:
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


def _user_id(user: str, option: str = "USER") -> str:
    """The user id, or exit 2 without echoing it (a mistyped id may be a person's name)."""
    if not staff.USER_ID.fullmatch(user):
        fail(f"{option}: {USER_HELP}")
    return user


def _acting(user: str, act: Callable[[Desk, Staff], Awaitable[T]]) -> T:
    """Run `act` on the desk as the named account, signed in with its password (prompted
    for, or one line of stdin when stdin is not a terminal): a decision from the command
    line is as much that person's as one from the page, log-in and log-out audited."""
    _user_id(user, "--as")
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

    return _on_desk(settings_or_exit(), run)


def _time(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def _new_password(*, system: bool, from_stdin: bool) -> str | None:
    if system:
        if from_stdin:
            fail("--password-stdin: a --system account has no password")
        return None
    if from_stdin:
        line = sys.stdin.readline()
        if not line.strip():
            fail("--password-stdin: no password on stdin")
        return line.rstrip("\r\n")
    return str(typer.prompt("password", hide_input=True, confirmation_prompt=True))


@staff_app.command("add")
def staff_add(
    user: Annotated[str, typer.Argument(metavar="USER", help=USER_HELP)],
    *,
    role: Annotated[
        list[Role], typer.Option(help="operator, approver, auditor or admin (repeatable)")
    ],
    municipality: Annotated[str, typer.Option(help="6-digit local-government code")],
    department: Annotated[str, typer.Option(help="department id, e.g. health-promotion")],
    may_reveal: Annotated[
        bool, typer.Option("--may-reveal", help="may reveal a masked My Number (audited)")
    ] = False,
    system: Annotated[
        bool, typer.Option("--system", help="a system's account: no password, API tokens only")
    ] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from stdin's first line")
    ] = False,
) -> None:
    """Add a person's account (the password is asked for twice) or a system's (--system)."""
    _user_id(user)
    try:
        code = LocalGovCode(municipality)
    except CodeError as exc:
        fail(f"--municipality: {exc}")
    settings = settings_or_exit()
    password = _new_password(system=system, from_stdin=password_stdin)
    roles = sorted(set(role))
    _on_desk(
        settings,
        lambda desk: desk.add_staff(
            user,
            roles=roles,
            municipality=code,
            department=department,
            password=password,
            may_reveal=may_reveal,
        ),
    )
    kind = "system" if system else "person"
    typer.echo(f"added {kind} {user}: {','.join(roles)} in {code} {department}")


@staff_app.command("disable")
def staff_disable(user: Annotated[str, typer.Argument(metavar="USER", help=USER_HELP)]) -> None:
    """Disable an account (a leaver's, R18) and end its sessions and API tokens."""
    _user_id(user)
    ended = _on_desk(settings_or_exit(), lambda desk: desk.disable_staff(user))
    typer.echo(f"disabled {user}: {ended} session(s) and token(s) ended")


@staff_app.command("list")
def staff_list() -> None:
    """Every account: id, kind, roles, municipality, department, reveal, state."""
    rows = _on_desk(settings_or_exit(), lambda desk: desk.staff_list())
    typer.echo(f"{len(rows)} account(s)")
    for row in rows:
        typer.echo(_account_line(row))


def _account_line(row: StaffRow) -> str:
    state = (
        f"enabled since {_time(row.created_at)}"
        if row.disabled_at is None
        else f"disabled since {_time(row.disabled_at)}"
    )
    reveal = "yes" if row.may_reveal else "no"
    return (
        f"{row.user_id:<20} {row.kind:<6} {','.join(sorted(row.roles)):<24} "
        f"{row.municipality} {row.department:<20} reveal {reveal:<3}  {state}"
    )


@staff_app.command("token")
def staff_token(
    user: Annotated[str, typer.Argument(metavar="USER", help=USER_HELP)],
    *,
    label: Annotated[str, typer.Option(help="what the token is for, e.g. nightly report")],
    days: Annotated[
        float | None, typer.Option(help="validity in days (default: SESSHU_DESK__API_TOKEN_DAYS)")
    ] = None,
) -> None:
    """Issue an API token for an account; it is printed once and only its digest is kept."""
    _user_id(user)
    if not label.strip():
        fail("--label: say what the token is for")
    if days is not None and days <= 0:
        fail("--days: must be more than 0")
    settings = settings_or_exit()
    valid = settings.desk.api_token_days if days is None else days
    token = _on_desk(settings, lambda desk: desk.issue_token(user, label=label, days=valid))
    typer.echo(f"API token for {user} ({label}), valid {valid:g} day(s); shown once:", err=True)
    typer.echo(token)


@held_app.command("show")
def held_show(
    message_id: Annotated[str, typer.Argument(metavar="MESSAGE_ID", help="the held message's id")],
    *,
    user: Annotated[str, typer.Option("--as", metavar="USER", help=AS_HELP)],
) -> None:
    """A held message as its approver sees it: My Number masked, with the content hash."""
    view = _acting(user, lambda desk, who: desk.show(who, message_id))
    for line in _held_lines(view):
        typer.echo(line)
    typer.echo(json.dumps(view.envelope, indent=2, ensure_ascii=False))


def _held_lines(view: HeldView) -> list[str]:
    row = view.row
    lines = [
        f"message   {row.message_id}",
        f"state     {row.state} ({row.reason_code})",
        f"kind      {row.kind} {row.procedure} from {row.sender_system} "
        f"of {row.sender_municipality}",
        f"for       {row.municipality} {row.department}",
        f"held      {_time(row.held_at)}, expires {_time(row.expires_at)}",
    ]
    if row.decided_by is not None:
        lines.append(f"decided   by {row.decided_by} at {_time(row.decided_at)}")
    masked = ", ".join(view.masked_paths) or "none"
    return [*lines, f"masked    {masked}", f"sha256    {view.content_sha256}"]


@held_app.command("approve")
def held_approve(
    message_id: Annotated[str, typer.Argument(metavar="MESSAGE_ID", help="the held message's id")],
    *,
    user: Annotated[str, typer.Option("--as", metavar="USER", help=AS_HELP)],
    comment: Annotated[str | None, typer.Option(help="a note for the audit trail")] = None,
    sha256: Annotated[
        str | None,
        typer.Option(help="refuse unless the content is still what `held show` printed"),
    ] = None,
) -> None:
    """Approve a held message: it is released with the hub's signed attestation."""
    held = _acting(
        user,
        lambda desk, who: desk.approve(
            who, message_id, terminal=cli_terminal(), comment=comment, content_sha256=sha256
        ),
    )
    typer.echo(_decided(held))


@held_app.command("reject")
def held_reject(
    message_id: Annotated[str, typer.Argument(metavar="MESSAGE_ID", help="the held message's id")],
    *,
    user: Annotated[str, typer.Option("--as", metavar="USER", help=AS_HELP)],
    comment: Annotated[str, typer.Option(help="why (required; goes to the audit trail)")],
) -> None:
    """Reject a held message; its sender and its recipient get a rejection notice."""
    held = _acting(
        user,
        lambda desk, who: desk.reject(who, message_id, terminal=cli_terminal(), comment=comment),
    )
    typer.echo(_decided(held))


def _decided(held: Held) -> str:
    return f"{held.state.value} {held.message_id} by {held.decided_by} at {_time(held.decided_at)}"


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

    count, finding, checkpoints = _on_desk(settings, verify)
    if finding is not None:
        typer.echo(f"audit trail broken: {finding}")
        raise typer.Exit(1)
    typer.echo(f"ok: {count} rows, chain intact, {checkpoints} checkpoints")


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign the head of the audit chain with the hub's key, if it moved since the last one."""
    checkpoint = _on_desk(settings_or_exit(), lambda desk: desk.checkpoint())
    if checkpoint is None:
        typer.echo("nothing new since the last checkpoint")
        return
    typer.echo(
        f"checkpoint: row {checkpoint.seq} hash {checkpoint.hash} "
        f"signed by {checkpoint.key_id} at {_time(checkpoint.signed_at)}"
    )


@audit_app.command("search")
def audit_search(
    *,
    user: Annotated[str, typer.Option("--as", metavar="USER", help=AS_HELP)],
    actor: Annotated[str | None, typer.Option(help="who acted (user id)")] = None,
    action: Annotated[str | None, typer.Option(help="e.g. held.approved, login.failed")] = None,
    subject: Annotated[str | None, typer.Option(help="message id or user id acted on")] = None,
    since: Annotated[str | None, typer.Option(help="how far back: 7d, 12h, 30m")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="rows at most")] = 50,
) -> None:
    """Audit rows, newest first: an auditor sees their municipality's, an admin all."""
    start = None if since is None else datetime.now(UTC) - duration(since)
    rows = _acting(
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
        f"{row.seq:>6}  {_time(row.at)}  {row.actor:<16} {row.action:<16} "
        f"{row.subject or '-':<36} {row.municipality or '-':<6} {client}"
    )
