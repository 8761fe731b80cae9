"""The `sesshu` command line."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError

from contracts.broker import destinations
from contracts.codes import CodeError, LocalGovCode, SystemId
from contracts.envelope import Envelope
from contracts.keys import KeyRing, KeyRingError, generate_key
from hub import demo as demo_module
from hub import service, staff
from hub.approvals import Held, Role, Staff
from hub.audit import AuditRow
from hub.desk import Desk, DeskError, HeldView, cli_terminal
from hub.errors import DatabaseUnavailable
from hub.settings import Settings, env_table
from hub.settings import load as load_settings
from observability import logs
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
held_app = typer.Typer(help="Messages held for a 所属長's approval.", no_args_is_help=True)
app.add_typer(held_app, name="held")
policy_app = typer.Typer(
    help="The routing policy (permitted-inquiry list, flags).", no_args_is_help=True
)
app.add_typer(policy_app, name="policy")
staff_app = typer.Typer(
    help="Staff accounts of the approval desk (one per person, or a system's).",
    no_args_is_help=True,
)
app.add_typer(staff_app, name="staff")
audit_app = typer.Typer(
    help="The approval desk's tamper-evident audit trail.", no_args_is_help=True
)
app.add_typer(audit_app, name="audit")

T = TypeVar("T")
USER_HELP = "user id: 2-64 of a-z 0-9 . _ - (no names)"
AS_HELP = "the staff account to act as (refused if unknown or disabled)"


def _policy(directory: Path) -> Policy:
    try:
        return load_policy(directory)
    except PolicyError as exc:
        for problem in exc.problems:
            typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(2) from None


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
    rows = asyncio.run(_held(_settings(), code))
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


@app.command("desk")
def desk_serve() -> None:
    """Serve the approval desk: the HTTP API (OpenAPI at /openapi.json) and the approver
    pages, on SESSHU_DESK__HTTP_HOST:SESSHU_DESK__HTTP_PORT."""
    settings = _settings()
    logs.configure(settings.log_level)
    # Imported here: FastAPI and uvicorn are only needed by this command.
    from hub.web.__main__ import serve  # noqa: PLC0415

    serve(settings)


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
    settings = _settings()
    window = _duration(since)
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


def _duration(text: str) -> timedelta:
    units = {"d": "days", "h": "hours", "m": "minutes"}
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit():
        raise typer.BadParameter("use a number and d, h or m, e.g. 7d", param_hint="--since")
    return timedelta(**{units[text[-1]]: int(text[:-1])})


def _settings() -> Settings:
    """The settings, or exit 2 naming every unknown variable and bad value (never the value)."""
    try:
        return load_settings()
    except ValidationError as exc:
        for error in exc.errors(include_input=False, include_url=False):
            where = ".".join(str(p) for p in error["loc"])
            typer.echo(f"error: setting {where}: {error['msg']}", err=True)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2)


def _logging(settings: Settings) -> None:
    logs.configure(settings.log_level)


@app.command("hub")
def hub_command(
    workers: Annotated[int, typer.Option(min=1, help="worker processes (competing consumers)")] = 1,
) -> None:
    """Run hub workers until SIGTERM/SIGINT, then drain them and exit 0."""
    settings = _settings()
    try:  # a hub key that cannot be read is a configuration error: say so before starting
        settings.signing.hub_signer()
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    _logging(settings)
    if workers == 1:
        raise typer.Exit(service.run_worker_process(settings))
    raise typer.Exit(service.supervise(workers, ["hub", "--workers", "1"]))


@db_app.command("migrate")
def db_migrate() -> None:
    """Create the database if needed and apply pending migrations."""
    settings = _settings()

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


@app.command("demo")
def demo(
    directory: Annotated[Path, typer.Option("--dir", help="where the demo keeps its files")] = Path(
        "var/demo"
    ),
    offline: Annotated[
        bool, typer.Option(help="skip the part that needs RabbitMQ and PostgreSQL")
    ] = False,
) -> None:
    """Run the demo: keys, every message kind signed and verified, forgeries refused."""
    settings = _settings()
    logs.configure("WARNING")
    shutil.rmtree(directory / "keys", ignore_errors=True)
    surprises = demo_module.run(directory, typer.echo, None if offline else settings)
    if surprises:
        typer.echo(f"\n{surprises} unexpected result(s)", err=True)
        raise typer.Exit(1)
    typer.echo("\nall as expected")


# -- the approval desk ----------------------------------------------------------------


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


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
        _fail(f"{exc.title}: {exc.error_count()} invalid field(s)")
    except (DeskError, DatabaseUnavailable, ValueError) as exc:
        # ValueError: a short password, a hub key file that is not a key.
        _fail(str(exc))


def _user_id(user: str, option: str = "USER") -> str:
    """The user id, or exit 2 without echoing it (a mistyped id may be a person's name)."""
    if not staff.USER_ID.fullmatch(user):
        _fail(f"{option}: {USER_HELP}")
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

    return _on_desk(_settings(), run)


def _time(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def _new_password(*, system: bool, from_stdin: bool) -> str | None:
    if system:
        if from_stdin:
            _fail("--password-stdin: a --system account has no password")
        return None
    if from_stdin:
        line = sys.stdin.readline()
        if not line.strip():
            _fail("--password-stdin: no password on stdin")
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
        _fail(f"--municipality: {exc}")
    settings = _settings()
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
    ended = _on_desk(_settings(), lambda desk: desk.disable_staff(user))
    typer.echo(f"disabled {user}: {ended} session(s) and token(s) ended")


@staff_app.command("list")
def staff_list() -> None:
    """Every account: id, kind, roles, municipality, department, reveal, state."""
    rows = _on_desk(_settings(), lambda desk: desk.staff_list())
    typer.echo(f"{len(rows)} account(s)")
    for row in rows:
        typer.echo(_account_line(row))


def _account_line(row: Mapping[str, Any]) -> str:
    state = (
        f"enabled since {_time(row['created_at'])}"
        if row["disabled_at"] is None
        else f"disabled since {_time(row['disabled_at'])}"
    )
    reveal = "yes" if row["may_reveal"] else "no"
    return (
        f"{row['user_id']:<20} {row['kind']:<6} {','.join(sorted(row['roles'])):<24} "
        f"{row['municipality']} {row['department']:<20} reveal {reveal:<3}  {state}"
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
        _fail("--label: say what the token is for")
    if days is not None and days <= 0:
        _fail("--days: must be more than 0")
    settings = _settings()
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
        f"message   {row['message_id']}",
        f"state     {row['state']} ({row['reason_code']})",
        f"kind      {row['kind']} {row['procedure']} from {row['sender_system']} "
        f"of {row['sender_municipality']}",
        f"for       {row['municipality']} {row['department']}",
        f"held      {_time(row['held_at'])}, expires {_time(row['expires_at'])}",
    ]
    if row["decided_by"] is not None:
        lines.append(f"decided   by {row['decided_by']} at {_time(row['decided_at'])}")
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
    settings = _settings()
    try:
        ring = KeyRing.load(settings.signing.ring_dir)
    except KeyRingError as exc:
        _fail(str(exc))

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
    checkpoint = _on_desk(_settings(), lambda desk: desk.checkpoint())
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
    start = None if since is None else datetime.now(UTC) - _duration(since)
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
