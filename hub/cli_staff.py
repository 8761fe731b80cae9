"""`sesshu staff`: the desk's accounts added (with their terminals and, for a contractor,
its roster entry), their terminals changed, disabled, listed, and given API tokens."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import date
from typing import Annotated

import typer

from contracts.codes import CodeError, LocalGovCode
from hub.approvals import Role
from hub.cli_common import fail, settings_or_exit
from hub.cli_desk import USER_HELP, checked_user, on_desk, utc
from hub.desk import Desk, StaffRow
from hub.desk.access import RosterEntry, network, roster_text

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


TERMINAL_HELP = "an IP address or network it may sign in from, e.g. 10.1.2.0/24 (repeatable)"
Terminals = Annotated[list[str], typer.Option("--terminal", help=TERMINAL_HELP)]
Day = Annotated[str | None, typer.Option(help="contractors: a date, YYYY-MM-DD")]
Company = Annotated[str | None, typer.Option(help="contractors: the company, for the roster")]


def _terminals(texts: Sequence[str], option: str = "--terminal") -> list[str]:
    """The terminals, or exit 2 naming the option (never the value: it may be mistyped
    personal data)."""
    for text in texts:
        try:
            network(text)
        except ValueError as exc:
            fail(f"{option}: {exc}")
    return list(texts)


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{option}: a date, YYYY-MM-DD")


def _roster(
    company: str | None, person: str | None, valid_from: str | None, valid_until: str | None
) -> RosterEntry | None:
    """The roster entry the options give (all four or none), or exit 2 naming the option."""
    given = {"--company": company, "--person": person, "--valid-from": valid_from}
    given["--valid-until"] = valid_until
    if all(value is None for value in given.values()):
        return None
    for option, value in given.items():
        if value is None:
            fail(f"{option}: a roster entry needs --company, --person, --valid-from, --valid-until")
    for option, value in (("--company", company), ("--person", person)):
        wrong = roster_text(value or "")
        if wrong:
            fail(f"{option}: {wrong}")
    entry = RosterEntry(
        company or "",
        person or "",
        _day(valid_from or "", "--valid-from"),
        _day(valid_until or "", "--valid-until"),
    )
    if entry.valid_until < entry.valid_from:
        fail("--valid-until: must not be before --valid-from")
    return entry


@staff_app.command("add")
def staff_add(
    user: User,
    *,
    role: Annotated[
        list[Role],
        typer.Option(help="operator, approver, auditor, admin or contractor (repeatable)"),
    ],
    municipality: Annotated[str, typer.Option(help="6-digit local-government code")],
    department: Annotated[str, typer.Option(help="department id, e.g. health-promotion")],
    terminal: Terminals = [],  # noqa: B006 - Typer's way to a repeatable option
    may_reveal: Annotated[
        bool, typer.Option("--may-reveal", help="may reveal a masked My Number (audited)")
    ] = False,
    system: Annotated[
        bool, typer.Option("--system", help="a system's account: no password, API tokens only")
    ] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from stdin's first line")
    ] = False,
    company: Company = None,
    person: Annotated[
        str | None, typer.Option(help="contractors: the person's name (kept, never logged)")
    ] = None,
    valid_from: Day = None,
    valid_until: Day = None,
) -> None:
    """Add a person's account (the password is asked for twice) or a system's (--system),
    with the terminals it may sign in from; a contractor with its roster entry."""
    checked_user(user)
    try:
        code = LocalGovCode(municipality)
    except CodeError as exc:
        fail(f"--municipality: {exc}")
    terminals = _terminals(terminal)
    roster = _roster(company, person, valid_from, valid_until)
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
            terminals=terminals,
            may_reveal=may_reveal,
            roster=roster,
        ),
    )
    kind = "system" if system else "person"
    typer.echo(f"added {kind} {user}: {','.join(roles)} in {code} {department}")
    if not terminals:
        typer.echo(
            f"note: {user} has no terminal and cannot sign in until one is added "
            f"(sesshu staff terminals {user} --add ADDRESS)",
            err=True,
        )


@staff_app.command("terminals")
def staff_terminals(
    user: User,
    *,
    add: Annotated[
        list[str], typer.Option("--add", help="an IP address or network to allow (repeatable)")
    ] = [],  # noqa: B006 - Typer's way to a repeatable option
    remove: Annotated[
        list[str], typer.Option("--remove", help="an IP address or network to drop (repeatable)")
    ] = [],  # noqa: B006
) -> None:
    """Show, add or remove the terminals an account may sign in from (a change is
    audited); a session in use elsewhere stops working at its next request."""
    checked_user(user)
    added, removed = _terminals(add, "--add"), _terminals(remove, "--remove")
    now = on_desk(
        settings_or_exit(),
        lambda desk: desk.change_terminals(user, add=added, remove=removed),
    )
    listed = ", ".join(str(n) for n in now) or "none (cannot sign in)"
    typer.echo(f"terminals of {user}: {listed}")


@staff_app.command("disable")
def staff_disable(user: User) -> None:
    """Disable an account (a leaver's, R18) and end its sessions and API tokens."""
    checked_user(user)
    ended = on_desk(settings_or_exit(), lambda desk: desk.disable_staff(user))
    typer.echo(f"disabled {user}: {ended} session(s) and token(s) ended")


@staff_app.command("list")
def staff_list(
    names: Annotated[
        bool, typer.Option("--names", help="also the person named in each contractor's roster")
    ] = False,
) -> None:
    """Every account: id, kind, roles, municipality, department, reveal, state, then its
    terminals and, for a contractor, its roster entry (company and period)."""

    async def read(desk: Desk) -> tuple[list[StaffRow], dict[str, str]]:
        return await desk.staff_list(), await desk.roster_names() if names else {}

    rows, people = on_desk(settings_or_exit(), read)
    typer.echo(f"{len(rows)} account(s)")
    for row in rows:
        typer.echo(_account_line(row))
        typer.echo(f"  terminals {', '.join(str(n) for n in row.terminals) or 'none'}")
        if row.roster is not None:
            named = f" ({people[row.user_id]})" if row.user_id in people else ""
            period = f"{row.roster.valid_from} to {row.roster.valid_until}"
            typer.echo(f"  roster {row.roster.company}{named}, {period}")


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
