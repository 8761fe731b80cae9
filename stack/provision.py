"""A stack's own corner of the services: one RabbitMQ vhost and the PostgreSQL databases
named after it, made and removed the same way by `sesshu stack demo`, the tests and the
benchmarks.

    <name>                 the vhost (the hub's topology, every adapter queue)
    <name>                 the hub's database
    <name>_adapters_<code> a city's systems' database (`SESSHU_ADAPTERS__DATABASE_URL` is
    <name>_adapters_nws    `<name>_adapters`); the network's

and each party's broker user `<name>.<party>` (`grant_broker`) and database role
`<name>_<party>` (`grant_databases`), with the admin role `<name>_admin` that migrates.

The vhost and users are made and removed on this machine's broker through its management
HTTP API (milliseconds a call), or with `rabbitmqctl` where the API does not answer (as
`scripts/services.sh` does; half a second a call); where there is no `rabbitmqctl`, the
base URL's own vhost and user are used and nothing is made or removed there.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import subprocess
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import httpx2

from stack.broker_users import definitions, logins_for, remove_users
from stack.parties import Login, Party
from stack.roles import Roles, drop_roles, provision_databases
from storekit.databases import drop_family, ensure_database

__all__ = [
    "AMQPS_ROOT",
    "AMQP_ROOT",
    "PG_ROOT",
    "PG_TLS_ROOT",
    "TLS_CA",
    "Place",
    "amqps_root",
    "environment",
    "pg_tls_root",
    "rabbitmqctl",
]

log = logging.getLogger("sesshu.stack")

AMQP_ROOT = "amqp://guest:guest@127.0.0.1:5672/"
PG_ROOT = "postgresql://postgres@127.0.0.1:5432/"
# The same over TLS, verified against the local CA that scripts/services.sh makes
# (`sesshu tls init`, var/tls/) and configures RabbitMQ (5671) and PostgreSQL with.
TLS_CA = Path(__file__).resolve().parents[1] / "var" / "tls" / "ca.pem"


def amqps_root(ca_file: Path = TLS_CA) -> str:
    """AMQPS on this machine's broker, verified against `ca_file` (aiormq's `cafile=`)."""
    return f"amqps://guest:guest@127.0.0.1:5671/?cafile={quote(str(ca_file))}"


def pg_tls_root(ca_file: Path = TLS_CA) -> str:
    """PostgreSQL over TLS, its certificate and name verified (libpq's verify-full)."""
    return (
        "postgresql://postgres@127.0.0.1:5432/"
        f"?sslmode=verify-full&sslrootcert={quote(str(ca_file))}"
    )


AMQPS_ROOT = amqps_root()
PG_TLS_ROOT = pg_tls_root()


def rabbitmqctl(*args: str, check: bool = True, timeout: float = 120) -> bool:
    """Run rabbitmqctl quietly; True if it succeeded (raise instead when `check`)."""
    done = subprocess.run(  # noqa: S603 - fixed program, arguments are ours
        ["rabbitmqctl", "-q", *args],  # noqa: S607 - on PATH, as scripts/services.sh finds it
        check=check,
        capture_output=True,
        timeout=timeout,
    )
    return done.returncode == 0


@dataclass(frozen=True)
class Place:
    """A vhost and the databases named after it, on the broker and server of two base URLs."""

    name: str
    amqp_base: str = AMQP_ROOT
    pg_base: str = PG_ROOT

    @property
    def own_vhost(self) -> bool:
        """Whether this machine's broker can be told to make the vhost."""
        return shutil.which("rabbitmqctl") is not None

    @property
    def amqp_url(self) -> str:
        """The AMQP URL of the vhost (the base URL's own where none can be made)."""
        if not self.own_vhost:
            return self.amqp_base
        return _with_path(self.amqp_base, "/" + quote(self.name, safe=""))

    @property
    def database_url(self) -> str:
        """The hub's database."""
        return self.database("")

    @property
    def adapters_database_url(self) -> str:
        """The base DSN of the adapters' databases (`SESSHU_ADAPTERS__DATABASE_URL`)."""
        return self.database("adapters")

    def database(self, owner: str) -> str:
        """`<name>_<owner>` (the hub's database for ""); a city's is `adapters_<code>`."""
        return _with_path(self.pg_base, "/" + self.name + (f"_{owner}" if owner else ""))

    @property
    def user(self) -> str:
        """The broker user the vhost is opened to."""
        return urlsplit(self.amqp_base).username or "guest"

    async def make(self, *, fresh: bool = False) -> Place:
        """The vhost (with the user's permissions) and an empty hub database if missing;
        `fresh`: remove everything of a run before first."""
        if fresh:
            await self.remove()
        if not self.own_vhost:
            await ensure_database(self.database_url)
            return self
        # One rabbitmqctl, not two (most of its half second is an Erlang VM starting), makes
        # the vhost and lets the user in, while the database is made.
        grant = {"user": self.user, "vhost": self.name}
        opened = {
            "vhosts": [{"name": self.name}],
            "permissions": [grant | {"configure": ".*", "write": ".*", "read": ".*"}],
        }
        await asyncio.gather(
            ensure_database(self.database_url), _import_definitions(opened, self.amqp_base)
        )
        return self

    async def grant_broker(self, parties: Sequence[Party]) -> dict[Party, Login]:
        """Each party's broker user in this vhost (`stack.broker_users`), with a password
        drawn anew; the vhost made too if missing. Where this machine's broker cannot be
        told (no rabbitmqctl), every party logs in as the base URL's user."""
        if not self.own_vhost:
            log.warning(
                "no rabbitmqctl: every party logs in as the base URL's user; make the users "
                "of stack/broker_users.py on the broker for least privilege"
            )
            base = urlsplit(self.amqp_base)
            shared = Login(base.username or "guest", base.password or "guest")
            return dict.fromkeys(logins_for(self.name, parties), shared)
        logins = logins_for(self.name, parties)
        await _import_definitions(definitions(self.name, logins), self.amqp_base)
        return logins

    async def grant_databases(self, parties: Sequence[Party]) -> Roles:
        """Each party's database role (`stack.roles`), with a password drawn anew, and
        every database the parties use made, migrated as the place's admin and granted;
        `login.url(place.database(...))` is a party's DSN."""
        return await provision_databases(self, parties)

    async def remove(self) -> None:
        """The vhost, its parties' broker users, every database named after it (even
        while a client holds one), and its database roles."""
        if self.own_vhost and not await _removed_by_api(self.amqp_base, self.name):
            rabbitmqctl("delete_vhost", self.name, check=False)  # not there: fine
            remove_users(f"{self.name}.")
        await drop_family(self.database_url)
        await drop_roles(self)  # after the databases that granted them anything


MANAGEMENT_PORT = 15672
"""RabbitMQ's management HTTP API on the broker's host (scripts/services.sh enables it)."""


def _management(amqp_base: str) -> httpx2.AsyncClient | None:
    """A client of the management API of this machine's broker, as the base URL's user;
    None for a broker elsewhere (its credentials go over plain http only to a loopback
    address)."""
    base = urlsplit(amqp_base)
    host = base.hostname or "127.0.0.1"
    if host not in {"127.0.0.1", "::1", "localhost"}:
        return None
    return httpx2.AsyncClient(
        base_url=f"http://{'[::1]' if host == '::1' else host}:{MANAGEMENT_PORT}/api",
        auth=(unquote(base.username or "guest"), unquote(base.password or "guest")),
        timeout=30,
    )


async def _by_api(amqp_base: str, calls: Callable[[httpx2.AsyncClient], Awaitable[bool]]) -> bool:
    """Run `calls` against the management API; False where it cannot be reached or
    refuses, so the caller uses rabbitmqctl instead (about half a second a call, an Erlang
    VM starting each time; an HTTP call takes milliseconds)."""
    client = _management(amqp_base)
    if client is None:
        return False
    try:
        async with client:
            return await calls(client)
    except httpx2.HTTPError:
        return False


async def _removed_by_api(amqp_base: str, vhost: str) -> bool:
    """Delete the vhost and every broker user `<vhost>.*` through the management API."""

    async def calls(client: httpx2.AsyncClient) -> bool:
        gone = await client.delete(f"/vhosts/{quote(vhost, safe='')}")
        if gone.status_code not in (204, 404):
            return False
        users = await client.get("/users", params={"columns": "name"})
        if users.status_code != 200:
            return False
        theirs = [u["name"] for u in users.json() if str(u["name"]).startswith(f"{vhost}.")]
        if theirs:
            deleted = await client.post("/users/bulk-delete", json={"users": theirs})
            return deleted.status_code == 204
        return True

    return await _by_api(amqp_base, calls)


async def _import_definitions(document: Mapping[str, object], amqp_base: str) -> None:
    """Import broker definitions (vhosts, users, permissions): through the management API
    where it answers, else one `rabbitmqctl import_definitions` (most of its half second
    is an Erlang VM starting), the document given on its standard input."""

    async def calls(client: httpx2.AsyncClient) -> bool:
        return (await client.post("/definitions", json=document)).status_code in (200, 201, 204)

    if await _by_api(amqp_base, calls):
        return
    child = await asyncio.create_subprocess_exec(
        "rabbitmqctl",
        "-q",
        "import_definitions",  # read from stdin
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, problem = await child.communicate(json.dumps(document).encode())
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    if child.returncode != 0:
        raise RuntimeError(f"rabbitmqctl could not import definitions: {problem!r}")


def environment(place: Place, ring_dir: Path, **settings: str) -> dict[str, str]:
    """The environment of a process of this stack: the caller's, without any `SESSHU_*` (a
    shell setting must not change what runs), pointed at the place and the key ring, with
    `settings` (`SESSHU_...` names) on top."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("SESSHU_")}
    own: Mapping[str, str] = {
        "SESSHU_AMQP__URL": place.amqp_url,
        "SESSHU_DATABASE__URL": place.database_url,
        "SESSHU_ADAPTERS__DATABASE_URL": place.adapters_database_url,
        "SESSHU_SIGNING__RING_DIR": str(ring_dir),
    }
    return base | dict(own) | settings


def _with_path(url: str, path: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=path))
