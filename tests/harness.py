"""Real-service test harness: a fresh RabbitMQ vhost and PostgreSQL database per test,
keys for the senders, hub worker processes, and signed traffic.

Everything here talks to the real servers on 127.0.0.1; nothing is mocked.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
from aiormq.exceptions import AMQPError

from contracts.broker import ADAPTER_SYSTEMS, INGRESS_QUEUE, adapter_queue
from contracts.codes import SystemId
from contracts.envelope import Envelope, Party, Recipient
from contracts.examples import example_payload
from contracts.keys import GeneratedKey, KeyRing, generate_key
from contracts.payloads import Payload, ResidentStatusFlag
from contracts.signing import Signer
from hub.settings import Settings
from hub.settings import load as load_settings

ROOT = Path(__file__).resolve().parents[1]
AMQP_ROOT = "amqp://guest:guest@127.0.0.1:5672/"
PG_ROOT = "postgresql://postgres@127.0.0.1:5432/"
CHIKUSEI, YUKI = "082279", "082074"
SENDERS = (
    (SystemId.HEALTH_MGMT, CHIKUSEI),
    (SystemId.HEALTH_MGMT, YUKI),
    (SystemId.VRS, CHIKUSEI),
    (SystemId.INTERMEDIATE, YUKI),
)
# What each sender sends, on the sample permitted-inquiry list: recipient, procedure,
# data item, and the n-th payload.
TRAFFIC_OF: dict[SystemId, tuple[SystemId, str, str, Callable[[int], Payload]]] = {
    SystemId.HEALTH_MGMT: (
        SystemId.VRS,
        "S19-16",
        "covid.resident_status",
        lambda n: ResidentStatusFlag(
            basic_code=str(10_000 + n), flag="moved_out", effective_on="2026-11-01"
        ),
    ),
    SystemId.VRS: (
        SystemId.HEALTH_MGMT,
        "S19-16",
        "covid.dose",
        lambda n: example_payload("dose_record"),
    ),
    SystemId.INTERMEDIATE: (
        SystemId.HEALTH_MGMT,
        "B2-115-2",
        "vaccination.history",
        lambda n: example_payload("inquiry_result"),
    ),
}


def rabbitmqctl(*args: str) -> None:
    """Run rabbitmqctl quietly; raise if it fails."""
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=120)


@dataclass
class Services:
    """One test's vhost, database and key ring."""

    vhost: str
    database: str
    ring_dir: Path
    keys: dict[tuple[SystemId, str], GeneratedKey]
    hub_key: GeneratedKey
    hub_key_file: Path

    @property
    def amqp_url(self) -> str:
        return f"{AMQP_ROOT}{self.vhost}"

    @property
    def database_url(self) -> str:
        return f"{PG_ROOT}{self.database}"

    @property
    def adapters_database_url(self) -> str:
        """The adapters' own database (never the hub's), made on first use."""
        return f"{PG_ROOT}{self.database}_adapters"

    def ring(self) -> KeyRing:
        return KeyRing.load(self.ring_dir)

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a hub process pointed at these services."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("SESSHU_")}
        return base | {
            "SESSHU_AMQP__URL": self.amqp_url,
            "SESSHU_DATABASE__URL": self.database_url,
            "SESSHU_SIGNING__RING_DIR": str(self.ring_dir),
            "SESSHU_SIGNING__HUB_KEY_FILE": str(self.hub_key_file),
            "SESSHU_HUB__MUNICIPALITIES": f"{CHIKUSEI},{YUKI}",
            "SESSHU_HUB__OUTBOX_CLAIM_SECONDS": "2",
            "SESSHU_HUB__RELAY_INTERVAL_SECONDS": "0.5",
            # The desk tests talk plain HTTP to 127.0.0.1.
            "SESSHU_DESK__SECURE_COOKIES": "false",
            "SESSHU_LOG_LEVEL": "WARNING",
            **extra,
        }

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


def create_services(tmp: Path) -> Services:
    """A new vhost and database and a key ring with a key per sender."""
    name = "t" + uuid.uuid4().hex[:12]
    rabbitmqctl("add_vhost", name)
    rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    asyncio.run(_create_database(name))
    ring_dir = tmp / "ring"
    keys = {}
    for system, municipality in {*SENDERS, (SystemId.VRS, YUKI), (SystemId.HEALTH_MGMT, CHIKUSEI)}:
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
    return Services(
        name, name, ring_dir, keys, hub_key, tmp / "hub-key" / "hub-shared-t.signing.pem"
    )


def drop_services(services: Services) -> None:
    """Remove the vhost and the databases."""
    rabbitmqctl("delete_vhost", services.vhost)
    asyncio.run(drop_database(services.database))
    asyncio.run(drop_database(f"{services.database}_adapters"))


async def _create_database(name: str) -> None:
    connection = await asyncpg.connect(PG_ROOT + "postgres")
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def drop_database(name: str) -> None:
    connection = await asyncpg.connect(PG_ROOT + "postgres")
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def signed_traffic(
    services: Services, count: int, senders: Sequence[tuple[SystemId, str]] = SENDERS
) -> list[tuple[str, bytes]]:
    """`count` signed envelopes, round-robin over the senders: (message id, wire bytes)."""
    signers = {sender: services.signer(*sender) for sender in senders}
    traffic = []
    for index in range(count):
        system, municipality = senders[index % len(senders)]
        recipient, procedure, data_item, payload = TRAFFIC_OF[system]
        envelope = Envelope.new(
            payload=payload(index),
            municipality=municipality,
            sender=Party(system=system, instance=f"{system.value.replace('_', '-')}-1"),
            recipient=Recipient(system=recipient, municipality=municipality),
            procedure=procedure,
            data_items=(data_item,),
            key_id=signers[(system, municipality)].key_id,
        )
        signed = signers[(system, municipality)].sign(envelope)
        traffic.append((str(signed.id), signed.to_bytes()))
    return traffic


def kind_of(body: bytes) -> str:
    """The envelope's kind, the routing key an adapter publishes it under; for bytes that
    are no envelope, a key of their own."""
    try:
        kind = json.loads(body).get("kind")
    except (ValueError, AttributeError, RecursionError):
        return "not-an-envelope"
    plain = isinstance(kind, str) and kind.isascii() and kind.isidentifier() and len(kind) <= 64
    return kind if plain else "not-an-envelope"


async def publish(
    url: str,
    bodies: Sequence[bytes],
    *,
    routing_key: str | None = None,
    routing_keys: Sequence[str] | None = None,
    window: int = 500,
) -> None:
    """Publish to the ingress exchange with confirms, `window` at a time, retrying on outages;
    each under its kind, as adapters do, unless `routing_key` (for all) or `routing_keys`
    (one per body) is given.

    A publish whose confirm was lost is sent again: the hub dedupes it by message id.
    """
    keys = list(routing_keys or [routing_key or kind_of(b) for b in bodies])
    pending = list(zip(bodies, keys, strict=True))
    while pending:
        try:
            connection = await aio_pika.connect(url)
        except (AMQPError, OSError):
            await asyncio.sleep(0.5)
            continue
        try:
            channel = await connection.channel(on_return_raises=True)
            exchange = await channel.get_exchange("sesshu.ingress")
            while pending:
                chunk = pending[:window]
                await asyncio.gather(
                    *(
                        exchange.publish(
                            aio_pika.Message(b, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                            routing_key=key,
                            timeout=30,
                        )
                        for b, key in chunk
                    )
                )
                del pending[: len(chunk)]
        except (AMQPError, OSError, TimeoutError, RuntimeError):
            await asyncio.sleep(0.5)
        finally:
            if not connection.is_closed:
                await connection.close()


@dataclass
class HubProcess:
    """A `sesshu hub` process."""

    services: Services
    workers: int = 1
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    def start(self) -> HubProcess:
        self.log_path = self.services.ring_dir.parent / f"hub-{time.monotonic_ns()}.log"
        with self.log_path.open("wb") as handle:  # the child keeps its own copy
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hub", "hub", "--workers", str(self.workers)],
                env=self.services.env(**self.extra_env),
                cwd=ROOT,
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
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
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""


async def wait_for(predicate: Callable[[], Awaitable[bool]], seconds: float, what: str) -> None:
    """Poll `predicate` until it holds; fail naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")


async def queue_depths(url: str, names: Sequence[str]) -> dict[str, int]:
    """Messages ready in each queue (passive declare)."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        depths = {}
        for name in names:
            queue = await channel.declare_queue(name, passive=True)
            depths[name] = queue.declaration_result.message_count or 0
        return depths
    finally:
        await connection.close()


async def drain_queue(url: str, name: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Consume and ack everything ready in a queue now."""
    connection = await aio_pika.connect(url)
    messages = []
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(name, passive=True)
        while (message := await queue.get(fail=False)) is not None:
            await message.ack()
            messages.append(message)
        return messages
    finally:
        await connection.close()


def restart_rabbitmq() -> None:
    """Stop the RabbitMQ node and start it again, as an operator or a crash-restart would."""
    subprocess.run(["rabbitmqctl", "-q", "stop"], check=True, capture_output=True, timeout=120)
    subprocess.run(["rabbitmq-server", "-detached"], check=True, capture_output=True, timeout=60)
    # await_startup exits 69 while the node has not even registered yet (a slow machine
    # takes more than a second to get that far): ask again until it waits for real.
    deadline = time.monotonic() + 180
    while True:
        time.sleep(1)
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


def unacked(vhost: str, queue: str) -> tuple[int, int]:
    """(ready, unacknowledged) messages of a queue, as RabbitMQ counts them."""
    result = subprocess.run(
        [
            "rabbitmqctl",
            "-q",
            "list_queues",
            "-p",
            vhost,
            "name",
            "messages_ready",
            "messages_unacknowledged",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    for line in result.stdout.splitlines():
        parts = line.split()
        if parts and parts[0] == queue:
            return int(parts[1]), int(parts[2])
    raise AssertionError(f"queue {queue} not found in vhost {vhost}")


def children_of(pid: int) -> list[int]:
    """PIDs of the direct children of a process."""
    result = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(p) for p in result.stdout.split()]


ADAPTER_QUEUES = [adapter_queue(s, m) for s in ADAPTER_SYSTEMS for m in (CHIKUSEI, YUKI)]


async def fetchval(services: Services, sql: str, *args: Any) -> Any:
    """One value from the test's database."""
    connection = await asyncpg.connect(services.database_url)
    try:
        return await connection.fetchval(sql, *args)
    finally:
        await connection.close()


async def journaled(services: Services) -> int:
    """Journal rows so far (0 before the hub has migrated)."""
    try:
        return int(await fetchval(services, "SELECT count(*) FROM journal"))
    except asyncpg.UndefinedTableError:
        return 0


async def settled(services: Services, journal_rows: int) -> bool:
    """Every message journaled and every outbox row confirmed by the broker."""
    if await journaled(services) < journal_rows:
        return False
    return (
        int(await fetchval(services, "SELECT count(*) FROM outbox WHERE published_at IS NULL")) == 0
    )


async def topology_ready(services: Services) -> bool:
    """True once the hub has declared its queues."""
    try:
        await queue_depths(services.amqp_url, [INGRESS_QUEUE])
    except Exception:  # not declared yet: any refusal means "not yet"
        return False
    return True


async def delivered(services: Services) -> dict[str, list[str]]:
    """Message ids now ready in each adapter queue (consumed and acked)."""
    return {
        name: [m.message_id or "" for m in await drain_queue(services.amqp_url, name)]
        for name in ADAPTER_QUEUES
    }


# -- the approval desk's tests ---------------------------------------------------------

PASSWORD = "correct horse battery"  # noqa: S105 - test accounts only


def provision(services: Services, *, operator: str | None = None) -> Envelope:
    """A flagged 115の2 provision from Yuki's intermediate server to the network."""
    signer = services.signer(SystemId.INTERMEDIATE, YUKI)
    envelope = Envelope.new(
        payload=example_payload("provision_response"),
        municipality=YUKI,
        sender=Party(system=SystemId.INTERMEDIATE, instance="is-1", operator=operator),
        recipient=Recipient(system=SystemId.NWS, municipality=YUKI),
        procedure="B2-115-2",
        data_items=("vaccination.history",),
        key_id=signer.key_id,
    )
    return signer.sign(envelope)


def transfer_out(services: Services) -> Envelope:
    """Yuki's VRS answering Chikusei's transfer-in inquiry: carries My Number; flagged here."""
    signer = services.signer(SystemId.VRS, YUKI)
    envelope = Envelope.new(
        payload=example_payload("transfer_out_provision"),
        municipality=YUKI,
        sender=Party(system=SystemId.VRS, instance="vrs-1"),
        recipient=Recipient(system=SystemId.VRS, municipality=CHIKUSEI),
        procedure="S19-16",
        data_items=("covid.vaccination_record",),
        key_id=signer.key_id,
    )
    return signer.sign(envelope)


async def held(services: Services, envelope: Envelope) -> None:
    await publish(services.amqp_url, [envelope.to_bytes()], routing_key=envelope.kind)

    async def stored() -> bool:
        return bool(
            await fetchval(
                services, "SELECT count(*) FROM held_messages WHERE message_id = $1", envelope.id
            )
        )

    await wait_for(stored, 30, "the message to be held")


async def published(services: Services) -> bool:
    return not await fetchval(services, "SELECT count(*) FROM outbox WHERE published_at IS NULL")
