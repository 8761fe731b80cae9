"""Real-service test harness: the services and processes tests run against, a fresh
RabbitMQ vhost and PostgreSQL database per test with keys for the senders, hub processes,
and the restarts the chaos tests inflict. What tests send is in `tests/traffic.py`, what
they look at in `tests/probes.py`.

Everything here talks to the real servers on 127.0.0.1; nothing is mocked.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from adapters.store.db import AdapterDb
from contracts.codes import SystemId
from contracts.envelope import Envelope, new_message_id
from contracts.keys import GeneratedKey, KeyRing, generate_key
from contracts.payloads import Payload, ReviewCopy
from contracts.sealing import sealed_review
from contracts.signing import Signer
from hub.custody import DESK_SIGNER_PREFIX
from hub.settings import Settings
from hub.settings import load as load_settings
from stack.processes import Processes
from stack.provision import AMQPS_ROOT, PG_ROOT, PG_TLS_ROOT, Place, environment
from storekit.databases import drop_family
from tests.sealed import SECRET, sealed_envelope

ROOT = Path(__file__).resolve().parents[1]
CHIKUSEI, YUKI = "082279", "082074"
SENDERS = (
    (SystemId.HEALTH_MGMT, CHIKUSEI),
    (SystemId.HEALTH_MGMT, YUKI),
    (SystemId.VRS, CHIKUSEI),
    (SystemId.INTERMEDIATE, YUKI),
)


@dataclass
class Services:
    """One test's vhost, databases and key ring."""

    place: Place
    ring_dir: Path
    keys: dict[tuple[SystemId, str], GeneratedKey]
    hub_key: GeneratedKey
    hub_key_file: Path
    desk_key_dir: Path
    """The desk's review keys, one per city (only the desk reads them)."""

    @property
    def vhost(self) -> str:
        return self.place.name

    @property
    def database(self) -> str:
        return self.place.name

    @property
    def amqp_url(self) -> str:
        return self.place.amqp_url

    @property
    def database_url(self) -> str:
        return self.place.database_url

    @property
    def adapters_database_url(self) -> str:
        """The adapters' own database (never the hub's), made on first use."""
        return self.place.adapters_database_url

    def ring(self) -> KeyRing:
        return KeyRing.load(self.ring_dir)

    def sealing_keys(self, key_id: str) -> X25519PrivateKey:
        """The private sealing key of one of this test's keys, by key id (an adapter's
        `sealing_keys`); KeyError for any other."""
        for key in self.keys.values():
            if key.entry.key_id == key_id:
                return key.sealing
        raise KeyError(key_id)

    def envelope(
        self, payload: Payload, *, review: ReviewCopy | None = None, **fields: Any
    ) -> Envelope:
        """An unsigned envelope as its sender builds it: a payload that identifies a person
        sealed to the recipient's key (this test's, or any key of it where the recipient
        has none here: the hub never opens it), a provision's `review` copy sealed to the
        desk of the sender's city."""
        recipient = fields["recipient"]
        to = self.keys.get((SystemId(recipient.system), str(recipient.municipality)))
        message_id = fields.pop("message_id", None) or new_message_id()
        if review is not None:
            fields["review"] = sealed_review(
                review,
                self.ring(),
                str(fields["municipality"]),
                envelope_id=message_id,
                secret=SECRET,
            )
        return sealed_envelope(
            payload, to or next(iter(self.keys.values())), message_id=message_id, **fields
        )

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a process of the stack pointed at these services."""
        defaults = {
            "SESSHU_SIGNING__HUB_KEY_FILE": str(self.hub_key_file),
            "SESSHU_DESK__REVIEW_KEY_DIR": str(self.desk_key_dir),
            "SESSHU_HUB__MUNICIPALITIES": f"{CHIKUSEI},{YUKI}",
            "SESSHU_HUB__OUTBOX_CLAIM_SECONDS": "2",
            "SESSHU_HUB__RELAY_INTERVAL_SECONDS": "0.5",
            # The desk tests talk plain HTTP to 127.0.0.1.
            "SESSHU_DESK__SECURE_COOKIES": "false",
            # FastAPI's TestClient sends `Host: testserver`; the default allows only this
            # machine's own names.
            "SESSHU_DESK__ALLOWED_HOSTS": "localhost,127.0.0.1,testserver",
            "SESSHU_LOG_LEVEL": "WARNING",
        }
        return environment(self.place, self.ring_dir, **(defaults | extra))

    def desk_env(self, **extra: str) -> dict[str, str]:
        """Environment for a `sesshu desk` process: its own folder and signing key."""
        signer = self.desk_key_dir / f"{DESK_SIGNER_PREFIX}t.signing.pem"
        return self.env(SESSHU_SIGNING__HUB_KEY_FILE=str(signer), **extra)

    def settings(self, **extra: str) -> Settings:
        """The settings a process started with `env(**extra)` would load."""
        environment = self.env(**extra)
        saved = dict(os.environ)
        try:
            os.environ.clear()
            os.environ.update(environment)
            return load_settings()
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def signer(self, system: SystemId, municipality: str) -> Signer:
        key = self.keys[(system, municipality)]
        return Signer(key.entry.key_id, key.signing)


def test_place() -> Place:
    """A place of this test's own, `sesshu_test_<pid>_<random>`: the pid this test process's,
    so a later session removes what a run that died left behind (tests/conftest.py), never a
    running one's. Every link over TLS, verified against the local CA, as in production."""
    return Place(f"sesshu_test_{os.getpid()}_{uuid.uuid4().hex[:8]}", AMQPS_ROOT, PG_TLS_ROOT)


@asynccontextmanager
async def adapter_database(city: str | None = None) -> AsyncIterator[tuple[AdapterDb, str]]:
    """An adapters' database of the test's own, migrated, and its DSN; dropped afterwards.
    With `city`, the one `SESSHU_ADAPTERS__DATABASE_URL=<DSN without _<city>>` names for
    that city (`database_for`), for a command run against it."""
    place = test_place()
    dsn = place.database(f"adapters_{city}") if city else place.adapters_database_url
    try:
        db = await AdapterDb.open(dsn)
        try:
            yield db, dsn
        finally:
            await db.close()
    finally:
        await drop_family(place.adapters_database_url)


def adapters_base(dsn: str, city: str) -> str:
    """`SESSHU_ADAPTERS__DATABASE_URL` for a city's DSN: its database name without `_<city>`,
    the rest (the TLS parameters) kept."""
    head, _, query = dsn.partition("?")
    return head.removesuffix(f"_{city}") + (f"?{query}" if query else "")


def create_services(tmp: Path) -> Services:
    """A new vhost and database (`test_place`) and a key ring with a key per sender. Left
    over, each vhost keeps its message stores and quorum queues, and so RabbitMQ file
    handles: hence the sweep of what dead runs left."""
    place = test_place()
    try:
        asyncio.run(place.make())
    except BaseException as failure:
        # The fixture's teardown will not run for a setup that failed.
        try:
            asyncio.run(place.remove())
        except (OSError, subprocess.SubprocessError, asyncpg.PostgresError) as cleanup:
            failure.add_note(f"and {place.name}, if made, could not be removed: {cleanup}")
        raise
    ring_dir = tmp / "ring"
    keys = {}
    # The senders, and the recipients their payloads are sealed to.
    recipients = {(SystemId.VRS, YUKI), (SystemId.HEALTH_MGMT, CHIKUSEI)}
    recipients |= {(SystemId.INTERMEDIATE, CHIKUSEI)}
    for system, municipality in {*SENDERS, *recipients}:
        key = generate_key(
            system,
            municipality,
            key_id=f"{system.value}-{municipality}-t",
            valid_from=datetime.now(UTC) - timedelta(days=1),
        )
        key.write(ring_dir)
        keys[(system, municipality)] = key
    # The hub's own key: its entry in the ring, its private key beside it, not in it.
    hub_key = generate_key(
        SystemId.HUB, None, key_id="hub-shared-t", valid_from=datetime.now(UTC) - timedelta(days=1)
    )
    hub_key.write(tmp / "hub-key")
    shutil.copy(tmp / "hub-key" / "hub-shared-t.json", ring_dir)
    # Each city's desk review key: its entry in the ring, its private key with the desk's.
    for city in (CHIKUSEI, YUKI):
        desk = generate_key(
            SystemId.DESK,
            city,
            key_id=f"desk-{city}-t",
            valid_from=datetime.now(UTC) - timedelta(days=1),
        )
        desk.write(tmp / "desk-keys")
        shutil.copy(tmp / "desk-keys" / f"desk-{city}-t.json", ring_dir)
    # The desk's own signing key, a hub key that is not the hub worker's (hub.custody).
    signer = generate_key(
        SystemId.HUB,
        None,
        key_id=f"{DESK_SIGNER_PREFIX}t",
        valid_from=datetime.now(UTC) - timedelta(days=1),
    )
    signer.write(tmp / "desk-keys")
    shutil.copy(tmp / "desk-keys" / f"{DESK_SIGNER_PREFIX}t.json", ring_dir)
    return Services(
        place,
        ring_dir,
        keys,
        hub_key,
        tmp / "hub-key" / "hub-shared-t.signing.pem",
        tmp / "desk-keys",
    )


def drop_services(services: Services) -> None:
    """Remove the vhost and every database named after it (`_adapters`, a stack's cities')."""
    asyncio.run(services.place.remove())


async def drop_database(name: str) -> None:
    connection = await asyncpg.connect(PG_ROOT + "postgres")
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@dataclass
class HubProcess:
    """A `sesshu hub` process, started like every process of the stack (`Processes`)."""

    services: Services
    workers: int = 1
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    children: Processes | None = None
    name: str = field(default_factory=lambda: f"hub-{time.monotonic_ns()}")

    def start(self) -> HubProcess:
        logs = self.services.ring_dir.parent / "logs"
        self.children = Processes(self.services.env(**self.extra_env), logs)
        self.process = self.children.sesshu(self.name, ["hub", "--workers", str(self.workers)])
        return self

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.wait(10)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM and wait: the drain's exit code."""
        if self.children is None:
            return 0
        return self.children.stop(timeout=timeout)[self.name]

    def log(self) -> str:
        return self.children.log(self.name) if self.children else ""


def restart_rabbitmq() -> None:
    """Stop the RabbitMQ node and start it again, as an operator or a crash-restart would:
    the Erlang VM ends, every connection drops, and the node recovers its quorum queues from
    disk. (`stop_app` and `start_app` would keep the VM, and the Ra logs in its memory.)

    About 8 s on this machine. Minutes mean a node out of file handles, waiting for one even
    to stop: too many vhosts for its open-files limit (scripts/services.sh raises it; the
    harness's vhosts are removed after each test and, left by a run that died, at the next
    session's start)."""
    try:
        subprocess.run(["rabbitmqctl", "-q", "stop"], check=True, capture_output=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise AssertionError(
            "rabbitmqctl stop took over 120 s: is the node out of file handles? "
            "(`rabbitmqctl status`, File Descriptors; `rabbitmqctl list_vhosts`)"
        ) from None
    subprocess.run(["rabbitmq-server", "-detached"], check=True, capture_output=True, timeout=60)
    # await_startup exits 69 while the node has not even registered yet (it takes the VM a
    # second or two to get that far): ask again until it waits for real.
    deadline = time.monotonic() + 180
    while True:
        time.sleep(0.5)
        done = subprocess.run(
            ["rabbitmqctl", "-q", "await_startup"], check=False, capture_output=True, timeout=180
        )
        if done.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"RabbitMQ did not start: {done.stderr.decode(errors='replace')}")


def restart_postgres() -> None:
    """Restart the local PostgreSQL cluster (every connection is cut)."""
    _pg_ctl("restart")


def stop_postgres() -> None:
    """Stop the local PostgreSQL cluster."""
    _pg_ctl("stop")


def start_postgres() -> None:
    """Start the local PostgreSQL cluster."""
    _pg_ctl("start")


def _pg_ctl(action: str) -> None:
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action],
        check=True,
        capture_output=True,
        timeout=120,
    )


def children_of(pid: int) -> list[int]:
    """PIDs of the direct children of a process."""
    result = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(p) for p in result.stdout.split()]


# -- the approval desk's tests ---------------------------------------------------------

PASSWORD = "correct horse battery"  # noqa: S105 - test accounts only


# Listening ports for the processes a test starts, below Linux's ephemeral range (32768 and
# up): a port the kernel handed out as free would be free only until the next outgoing
# connection took it, which in a suite of thousands of connections happens.
_PORTS = (20_000, 32_000)


def free_ports(count: int = 1) -> int:
    """The first of `count` consecutive ports nothing listens on now (outside the range the
    kernel picks outgoing ports from)."""
    low, high = _PORTS
    for _ in range(200):
        first = low + secrets.randbelow(high - low - count)
        try:
            for port in range(first, first + count):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise AssertionError(f"no {count} consecutive free ports in {low}-{high}")
