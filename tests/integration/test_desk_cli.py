"""The approval desk's command line, run as a user would: `sesshu staff`, `sesshu held
show|approve|reject` and `sesshu audit`, against the real hub, RabbitMQ and PostgreSQL.

The commands run in this process, through Typer's test runner, with the environment, stdin,
stdout, stderr and exit code a shell would give them (a new interpreter for each of some 70
commands cost most of these tests' time); the first test runs the installed `sesshu`
executable itself, as its own process.
"""

from __future__ import annotations

import asyncio
import io
import logging
import socket
import subprocess
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest
from typer.testing import CliRunner

from contracts.envelope import Envelope
from contracts.examples import example_payload
from contracts.sealing import content_digest
from hub.cli import app
from hub.staff import secret_digest
from tests.harness import CHIKUSEI, PASSWORD, ROOT, YUKI, HubProcess, Services
from tests.probes import fetchval, held, topology_ready, wait_for
from tests.traffic import provision, transfer_out

pytestmark = pytest.mark.integration
MY_NUMBERS = ("123456789018", "987654321093")  # in the example transfer-out provision
LOOPBACK = "127.0.0.1/32"
Run = Callable[..., subprocess.CompletedProcess[str]]
# The console script `pip install` made beside this interpreter; `python -m hub` where the
# project is not installed (hub/__main__.py: the same command).
SCRIPT = Path(sys.executable).with_name("sesshu")
EXECUTABLE = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "hub"]


def _arguments(
    services: Services, args: tuple[str, ...], stdin: str | None, policy: Path | None
) -> tuple[dict[str, str], str | None]:
    """The command's environment, and its stdin (acting as an account signs in with its
    password)."""
    extra = {} if policy is None else {"SESSHU_ROUTING__POLICY_DIR": str(policy)}
    if "--as" in args and stdin is None:
        stdin = PASSWORD + "\n"
    return services.env(COLUMNS="200", **extra), stdin


def _checked(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert "Traceback" not in result.stderr, result.stderr
    assert not any(number in result.stdout + result.stderr for number in MY_NUMBERS)
    return result


def sesshu(
    services: Services, *args: str, stdin: str | None = None, policy: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the `sesshu` command against the test's database and keys, in this process.

    What reaches the user's terminal in a process of its own is checked here too: stderr,
    and the log records of WARNING and above that Python's last-resort handler would print
    there (a traceback is a crash: CliRunner catches what would have been printed)."""
    environment, stdin = _arguments(services, args, stdin, policy)
    logged = io.StringIO()
    handler = logging.StreamHandler(logged)
    handler.setLevel(logging.WARNING)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        result = CliRunner().invoke(app, list(args), input=stdin, env=environment)
    finally:
        root.removeHandler(handler)
    crash = result.exception
    if crash is not None and not isinstance(crash, SystemExit):
        printed = "".join(traceback.format_exception(crash))
        raise AssertionError(f"sesshu {' '.join(args)} crashed:\n{printed}")
    return _checked(
        subprocess.CompletedProcess(
            ["sesshu", *args], result.exit_code, result.stdout, result.stderr + logged.getvalue()
        )
    )


def sesshu_executable(
    services: Services, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the `sesshu` executable as a process of its own, as a shell would."""
    environment, stdin = _arguments(services, args, stdin, None)
    return _checked(
        subprocess.run(
            [*EXECUTABLE, *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            input=stdin,
            timeout=180,
            check=False,
            env=environment,
        )
    )


def add(
    services: Services,
    user: str,
    *roles: str,
    municipality: str = YUKI,
    department: str = "health-promotion",
    options: tuple[str, ...] = (),
    password: str = PASSWORD,
) -> subprocess.CompletedProcess[str]:
    """`sesshu staff add` with the password on stdin, its terminal this host's loopback
    (where `--as USER` signs in from, hub/desk/access.py)."""
    return sesshu(
        services,
        "staff",
        "add",
        user,
        *[arg for role in roles for arg in ("--role", role)],
        "--municipality",
        municipality,
        "--department",
        department,
        "--terminal",
        LOOPBACK,
        "--password-stdin",
        *options,
        stdin=password + "\n",
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    """The stdout of a command that must succeed."""
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def refused(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    """The stderr of a command that must be refused with exit 2, naming `expected`."""
    assert result.returncode == 2, result.stdout + result.stderr
    for text in expected:
        assert text in result.stderr, result.stderr
    return result.stderr


def line_of(output: str, user: str) -> str:
    (line,) = [line for line in output.splitlines() if line.startswith(f"{user} ")]
    return line


def test_the_sesshu_executable_reads_the_password_from_stdin_and_exits_with_its_code(
    services: Services,
) -> None:
    # The installed command end to end, as a process of its own: its entry point, stdin
    # read through a pipe, stdout, stderr and the exit status a shell sees.
    added = sesshu_executable(
        services,
        *("staff", "add", "endo", "--role", "auditor", "--municipality", YUKI),
        *("--department", "audit", "--terminal", LOOPBACK, "--password-stdin"),
        stdin=PASSWORD + "\n",
    )
    assert "added person endo: auditor in 082074 audit" in ok(added)
    # endo's account and endo's log-in to search.
    found = ok(sesshu_executable(services, "audit", "search", "--as", "endo"))
    assert found.startswith("2 row(s), newest first")
    assert "staff.added" in found
    assert " login " in found
    wrong = sesshu_executable(
        services, "audit", "search", "--as", "endo", stdin="not the password\n"
    )
    refused(wrong, "error: login_failed: ")
    refused(
        sesshu_executable(services, "staff", "add", "sato", "--role", "operator"),
        "--municipality",
    )


def test_staff_accounts_are_added_listed_given_tokens_and_disabled(services: Services) -> None:
    assert "added person aoki: approver in 082074" in ok(
        add(services, "aoki", "approver", options=("--may-reveal",))
    )
    system = sesshu(
        services,
        *("staff", "add", "vendor-batch", "--role", "operator", "--role", "auditor"),
        *("--municipality", YUKI, "--department", "it", "--system"),
    )
    assert "added system vendor-batch: auditor,operator" in ok(system)

    refused(add(services, "aoki", "operator"), "error: user_exists: user aoki already exists")
    bad_code = refused(add(services, "sato", "operator", municipality="08207X"), "--municipality")
    assert "local-government code" in bad_code
    assert "08207X" not in bad_code
    refused(add(services, "sato", "operator", password="short"), "at least 12")  # noqa: S106
    name = refused(add(services, "Taro Yamada", "operator"), "error: USER: user id")
    assert "Taro" not in name
    refused(add(services, "sato", "operator", department="健康"), "invalid_department")
    refused(
        sesshu(services, "staff", "add", "sato", "--role", "operator", "--municipality", YUKI),
        "--department",
    )

    listed = ok(sesshu(services, "staff", "list"))
    assert listed.startswith("2 account(s)")
    assert "argon2" not in listed
    aoki = line_of(listed, "aoki")
    for part in ("person", "approver", YUKI, "health-promotion", "reveal yes", "enabled since"):
        assert part in aoki, aoki
    vendor = line_of(listed, "vendor-batch")
    for part in ("system", "auditor,operator", " it ", "reveal no", "enabled since"):
        assert part in vendor, vendor

    issued = sesshu(
        services, "staff", "token", "vendor-batch", "--label", "nightly", "--days", "30"
    )
    token = ok(issued).strip()
    assert "shown once" in issued.stderr
    assert len(token) >= 40
    assert token not in issued.stderr
    kind = asyncio.run(
        fetchval(
            services,
            "SELECT kind || ' ' || label FROM sessions WHERE token_sha256 = $1",
            secret_digest(token),
        )
    )
    assert kind == "api_token nightly"
    refused(sesshu(services, "staff", "token", "vendor-batch", "--label", " "), "--label")

    assert "disabled vendor-batch: 1 session(s)" in ok(
        sesshu(services, "staff", "disable", "vendor-batch")
    )
    refused(sesshu(services, "staff", "disable", "vendor-batch"), "already_disabled")
    refused(sesshu(services, "staff", "disable", "nobody"), "no_such_user")
    refused(sesshu(services, "staff", "token", "vendor-batch", "--label", "x"), "no_such_user")
    listed = ok(sesshu(services, "staff", "list"))
    assert "disabled since" in line_of(listed, "vendor-batch")
    assert "enabled since" in line_of(listed, "aoki")


async def _tamper(services: Services, statement: str) -> None:
    # What a DBA could do: switch the append-only trigger off for the session.
    connection = await asyncpg.connect(services.database_url)
    try:
        await connection.execute("SET session_replication_role = replica")
        await connection.execute(statement)
    finally:
        await connection.close()


def test_audit_checkpoint_search_and_verify_then_a_tampered_row_is_named(
    services: Services,
) -> None:
    ok(add(services, "endo", "auditor", department="audit"))
    ok(add(services, "doi", "operator"))
    ok(add(services, "chiba", "auditor", municipality=CHIKUSEI, department="audit"))
    ok(add(services, "root-admin", "admin", department="it"))
    assert "checkpoint: row 4 hash " in ok(sesshu(services, "audit", "checkpoint"))
    assert "nothing new" in ok(sesshu(services, "audit", "checkpoint"))
    ok(sesshu(services, "staff", "disable", "root-admin"))
    assert ok(sesshu(services, "audit", "verify")).strip() == (
        "ok: 5 rows, chain intact, 1 checkpoints"
    )

    found = ok(sesshu(services, "audit", "search", "--as", "endo"))
    # Yuki's rows (three accounts added, one disabled, endo's log-in to search), not
    # Chikusei's.
    assert found.startswith("5 row(s), newest first")
    assert " login " in found
    assert "chiba" not in found
    assert "staff.added" in found
    assert "staff.disabled" in found
    filters = ("--action", "staff.added", "--subject", "doi", "--since", "1h", "--limit", "5")
    narrowed = ok(sesshu(services, "audit", "search", "--as", "endo", *filters))
    assert narrowed.startswith("1 row(s)")
    assert "staff.added" in narrowed
    assert " doi " in narrowed
    # chiba's account and log-in.
    assert ok(sesshu(services, "audit", "search", "--as", "chiba")).startswith("2 row(s)")

    refused(sesshu(services, "audit", "search", "--as", "doi"), "error: not_an_auditor: ")
    refused(sesshu(services, "audit", "search", "--as", "nobody"), "error: login_failed: ")
    refused(sesshu(services, "audit", "search", "--as", "root-admin"), "error: login_failed: ")
    wrong = sesshu(services, "audit", "search", "--as", "endo", stdin="not the password\n")
    refused(wrong, "error: login_failed: ")
    refused(sesshu(services, "audit", "search", "--as", "endo", "--since", "1w"), "--since")

    asyncio.run(_tamper(services, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2"))
    broken = sesshu(services, "audit", "verify")
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "row 2 changed" in broken.stdout


async def _held(services: Services, envelopes: list[Envelope]) -> None:
    await wait_for(lambda: topology_ready(services), 30, "the hub's topology")
    for envelope in envelopes:
        await held(services, envelope)


def test_held_messages_are_shown_masked_approved_once_and_rejected_with_a_comment(
    services: Services, policy_dir: Path
) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return sesshu(services, *args, policy=policy_dir)

    for user, role, department in [
        ("aoki", "approver", "health-promotion"),
        ("baba", "approver", "health-promotion"),
        ("doi", "operator", "health-promotion"),
        ("fujita", "approver", "covid-vaccination"),
    ]:
        ok(add(services, user, role, department=department))
    hub = HubProcess(services, extra_env={"SESSHU_ROUTING__POLICY_DIR": str(policy_dir)}).start()
    try:
        reply, transfer = provision(services), transfer_out(services)
        asyncio.run(_held(services, [reply, transfer]))
        _approve_once(services, run, reply)
        _reject_with_a_comment(run, transfer)
        refused(run("held", "show", "not-a-uuid", "--as", "aoki"), "error: not_found: ")
        ok(run("staff", "disable", "baba"))
        refused(run("held", "show", str(reply.id), "--as", "baba"), "login_failed")
        refused(run("held", "show", str(reply.id), "--as", "nobody"), "login_failed")
        assert "chain intact" in ok(run("audit", "verify"))
    finally:
        assert hub.stop() == 0, hub.log()


def _approve_once(services: Services, run: Run, reply: Envelope) -> None:
    message = str(reply.id)
    # The digest of the provision the review copy shows (what the approval attests).
    digest = content_digest(example_payload("provision_response"))
    shown = ok(run("held", "show", message, "--as", "aoki"))
    assert f"message   {message}" in shown
    assert "state     held (auto_response_disabled)" in shown
    assert f"for       {YUKI} health-promotion" in shown
    assert f"sha256    {digest}" in shown
    assert '"procedure": "B2-115-2"' in shown
    assert "事務 · Procedure: 番号法 別表第二 115の2" in shown
    assert f"照会元 · Inquirer: {CHIKUSEI} 中間サーバー" in shown
    refused(run("held", "show", message, "--as", "doi"), "error: not_an_approver: ")
    stale = run("held", "approve", message, "--as", "aoki", "--sha256", "0" * 64)
    refused(stale, "error: content_changed: ")
    approved = run("held", "approve", message, "--as", "aoki", "--sha256", digest)
    assert f"released {message} by aoki" in ok(approved)
    refused(run("held", "approve", message, "--as", "baba"), "error: not_held: ")
    actors = asyncio.run(
        fetchval(
            services,
            "SELECT string_agg(actor || ' ' || action || ' ' || (terminal->>'client'), ',' "
            "ORDER BY seq) FROM audit_log WHERE subject = $1",
            message,
        )
    )
    host = f"cli@{socket.gethostname()}"
    # The refused tries are audited too (R17), with the terminal they came from.
    assert actors == (
        f"aoki held.viewed {host},doi held.view_refused {host},"
        f"aoki held.approval_refused {host},aoki held.approved {host},"
        f"aoki held.released {host},baba held.approval_refused {host}"
    )


def _reject_with_a_comment(run: Run, transfer: Envelope) -> None:
    message = str(transfer.id)
    shown = ok(run("held", "show", message, "--as", "fujita"))
    assert f"for       {YUKI} covid-vaccination" in shown
    assert "個人番号 · My Number: ********" + MY_NUMBERS[1][-4:] in shown
    assert MY_NUMBERS[1] not in shown
    assert "masked    $.provision.my_number" in shown
    refused(run("held", "reject", message, "--as", "fujita"), "--comment")
    refused(run("held", "reject", message, "--as", "fujita", "--comment", "  "), "comment_required")
    refused(run("held", "reject", message, "--as", "aoki", "--comment", "no"), "not_found")
    rejected = run("held", "reject", message, "--as", "fujita", "--comment", "record incomplete")
    assert f"rejected {message} by fujita" in ok(rejected)
    shown = ok(run("held", "show", message, "--as", "fujita"))
    assert "state     rejected" in shown
    assert "decided   by fujita" in shown
