"""A stack's own corner of the services: one RabbitMQ vhost and the PostgreSQL databases
named after it, made and removed the same way by `sesshu stack demo`, the tests and the
benchmarks.

    <name>                 the vhost (the hub's topology, every adapter queue)
    <name>                 the hub's database
    <name>_adapters_<code> a city's systems' database (`SESSHU_ADAPTERS__DATABASE_URL` is
    <name>_adapters_nws    `<name>_adapters`); the network's

The vhost is made with `rabbitmqctl` (this machine's broker, as `scripts/services.sh` does);
where there is none, the base URL's own vhost is used and nothing is made or removed.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from stack.broker_users import BrokerLogin, definitions, logins_for, remove_users
from stack.parties import Party
from storekit.databases import drop_family, ensure_database

__all__ = ["AMQP_ROOT", "PG_ROOT", "Place", "environment", "rabbitmqctl"]

AMQP_ROOT = "amqp://guest:guest@127.0.0.1:5672/"
PG_ROOT = "postgresql://postgres@127.0.0.1:5432/"


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
        await asyncio.gather(ensure_database(self.database_url), _import_definitions(opened))
        return self

    async def grant_broker(self, parties: Sequence[Party]) -> dict[Party, BrokerLogin]:
        """Each party's broker user in this vhost (`stack.broker_users`), with a password
        drawn anew; the vhost made too if missing. Where this machine's broker cannot be
        told (no rabbitmqctl), every party logs in as the base URL's user."""
        if not self.own_vhost:
            base = urlsplit(self.amqp_base)
            shared = BrokerLogin(base.username or "guest", base.password or "guest")
            return dict.fromkeys(logins_for(self.name, parties), shared)
        logins = logins_for(self.name, parties)
        await _import_definitions(definitions(self.name, logins))
        return logins

    def amqp_url_of(self, login: BrokerLogin) -> str:
        """The vhost's URL logged in as `login`."""
        parts = urlsplit(self.amqp_url)
        host = parts.netloc.rpartition("@")[2]
        user, password = quote(login.user, safe=""), quote(login.password, safe="")
        return urlunsplit(parts._replace(netloc=f"{user}:{password}@{host}"))

    async def remove(self) -> None:
        """The vhost, its parties' broker users, and every database named after it, even
        while a client holds one."""
        if self.own_vhost:
            rabbitmqctl("delete_vhost", self.name, check=False)  # not there: fine
            remove_users(f"{self.name}.")
        await drop_family(self.database_url)


async def _import_definitions(document: Mapping[str, object]) -> None:
    """One `rabbitmqctl import_definitions` (most of its half second is an Erlang VM
    starting), the document given on its standard input."""
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
