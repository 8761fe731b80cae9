"""A benchmark's own RabbitMQ vhost, PostgreSQL database and key ring, removed afterwards.

A small copy of what tests/harness.py does, so that `python -m bench.pipeline` does not
depend on the test package.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from contracts.codes import SystemId
from contracts.keys import generate_key
from contracts.signing import Signer

__all__ = [
    "AMQP_ROOT",
    "MUNICIPALITIES",
    "PG_ROOT",
    "SENDERS",
    "BenchServices",
    "create_services",
    "drop_services",
]

AMQP_ROOT = "amqp://guest:guest@127.0.0.1:5672/"
PG_ROOT = "postgresql://postgres@127.0.0.1:5432/"
CHIKUSEI, YUKI = "082279", "082074"
MUNICIPALITIES = (CHIKUSEI, YUKI)
# (sender system, municipality, recipient system): the harness's traffic mix, so that the
# hub delivers to four adapter queues across both municipalities it serves.
# Health management of both cities recording vaccination results with their intermediate
# server (F3/F4, 別表第一 10 on the sample permitted-inquiry list).
SENDERS: tuple[tuple[SystemId, str, SystemId], ...] = (
    (SystemId.HEALTH_MGMT, CHIKUSEI, SystemId.INTERMEDIATE),
    (SystemId.HEALTH_MGMT, YUKI, SystemId.INTERMEDIATE),
)


def rabbitmqctl(*args: str) -> None:
    """Run rabbitmqctl quietly; raise if it fails."""
    subprocess.run(  # noqa: S603 - fixed program, arguments are ours
        ["rabbitmqctl", "-q", *args],  # noqa: S607 - found on PATH like `make services` does
        check=True,
        capture_output=True,
        timeout=120,
    )


@dataclass(frozen=True)
class BenchServices:
    """One benchmark run's vhost, database and the signers of its senders."""

    name: str
    ring_dir: Path
    signers: dict[tuple[SystemId, str], Signer]

    @property
    def amqp_url(self) -> str:
        """AMQP URL of the benchmark's vhost."""
        return f"{AMQP_ROOT}{self.name}"

    @property
    def database_url(self) -> str:
        """DSN of the benchmark's database."""
        return f"{PG_ROOT}{self.name}"

    def hub_env(self) -> dict[str, str]:
        """Environment for a hub process pointed at these services, other settings default."""
        # Drop the caller's SESSHU_* so a shell setting cannot change what is measured.
        base = {k: v for k, v in os.environ.items() if not k.startswith("SESSHU_")}
        return base | {
            "SESSHU_AMQP__URL": self.amqp_url,
            "SESSHU_DATABASE__URL": self.database_url,
            "SESSHU_SIGNING__RING_DIR": str(self.ring_dir),
            "SESSHU_HUB__MUNICIPALITIES": ",".join(MUNICIPALITIES),
            "SESSHU_LOG_LEVEL": "WARNING",
        }


def create_services(ring_dir: Path) -> BenchServices:
    """A new vhost and database, and a key ring in `ring_dir` with a key per sender."""
    name = "bench" + uuid.uuid4().hex[:12]
    rabbitmqctl("add_vhost", name)
    try:
        rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        asyncio.run(_execute(f'CREATE DATABASE "{name}"'))
    except BaseException:
        rabbitmqctl("delete_vhost", name)
        raise
    signers = {}
    for system, municipality, _ in SENDERS:
        key = generate_key(
            system,
            municipality,
            key_id=f"{system.value}-{municipality}-bench",
            # Valid since yesterday, so a clock a little behind cannot make sent_at early.
            valid_from=datetime.now(UTC) - timedelta(days=1),
        )
        key.write(ring_dir)
        signers[(system, municipality)] = Signer(key.entry.key_id, key.signing)
    return BenchServices(name, ring_dir, signers)


def drop_services(services: BenchServices) -> None:
    """Remove the vhost and the database (the database even while a client holds it)."""
    try:
        rabbitmqctl("delete_vhost", services.name)
    finally:
        asyncio.run(_execute(f'DROP DATABASE IF EXISTS "{services.name}" WITH (FORCE)'))


async def _execute(sql: str) -> None:
    connection = await asyncpg.connect(PG_ROOT + "postgres")
    try:
        await connection.execute(sql)
    finally:
        await connection.close()
