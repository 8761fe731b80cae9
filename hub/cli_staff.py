"""`sesshu staff`: the desk's accounts added, disabled, listed, and given API tokens."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from contracts.codes import CodeError, LocalGovCode
from hub.approvals import Role
from hub.cli_common import fail, settings_or_exit
from hub.cli_desk import USER_HELP, checked_user, on_desk, utc
from hub.desk import StaffRow

__all__ = ["staff_app"]

staff_app = typer.Typer(
    help="Staff accounts of the approval desk (one per person, or a system's).",
    no_args_is_help=True,
)

User = Annotated[str, typer.Argument(metavar="USER", help=USER_HELP)]


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
    user: User,
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
    checked_user(user)
    try:
        code = LocalGovCode(municipality)
    except CodeError as exc:
        fail(f"--municipality: {exc}")
    settings = settings_or_exit()
    password = _new_password(system=system, from_stdin=password_stdin)
    roles = sorted(set(role))
    on_desk(
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
def staff_disable(user: User) -> None:
    """Disable an account (a leaver's, R18) and end its sessions and API tokens."""
    checked_user(user)
    ended = on_desk(settings_or_exit(), lambda desk: desk.disable_staff(user))
    typer.echo(f"disabled {user}: {ended} session(s) and token(s) ended")


@staff_app.command("list")
def staff_list() -> None:
    """Every account: id, kind, roles, municipality, department, reveal, state."""
    rows = on_desk(settings_or_exit(), lambda desk: desk.staff_list())
    typer.echo(f"{len(rows)} account(s)")
    for row in rows:
        typer.echo(_account_line(row))


def _account_line(row: StaffRow) -> str:
    state = (
        f"enabled since {utc(row.created_at)}"
        if row.disabled_at is None
        else f"disabled since {utc(row.disabled_at)}"
    )
    reveal = "yes" if row.may_reveal else "no"
    return (
        f"{row.user_id:<20} {row.kind:<6} {','.join(sorted(row.roles)):<24} "
        f"{row.municipality} {row.department:<20} reveal {reveal:<3}  {state}"
    )


@staff_app.command("token")
def staff_token(
    user: User,
    *,
    label: Annotated[str, typer.Option(help="what the token is for, e.g. nightly report")],
    days: Annotated[
        float | None, typer.Option(help="validity in days (default: SESSHU_DESK__API_TOKEN_DAYS)")
    ] = None,
) -> None:
    """Issue an API token for an account; it is printed once and only its digest is kept."""
    checked_user(user)
    if not label.strip():
        fail("--label: say what the token is for")
    if days is not None and days <= 0:
        fail("--days: must be more than 0")
    settings = settings_or_exit()
    valid = settings.desk.api_token_days if days is None else days
    token = on_desk(settings, lambda desk: desk.issue_token(user, label=label, days=valid))
    typer.echo(f"API token for {user} ({label}), valid {valid:g} day(s); shown once:", err=True)
    typer.echo(token)
