"""A benchmark's own RabbitMQ vhost, PostgreSQL database and key ring, removed afterwards,
made as every stack's are (`stack.provision.Place`)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from contracts.codes import SystemId
from contracts.keys import generate_key
from contracts.signing import Signer
from stack.provision import AMQPS_ROOT, PG_TLS_ROOT, Place, environment

__all__ = [
    "MUNICIPALITIES",
    "SENDERS",
    "BenchServices",
    "create_services",
    "drop_services",
]

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


@dataclass(frozen=True)
class BenchServices:
    """One benchmark run's vhost, database and the signers of its senders."""

    place: Place
    ring_dir: Path
    signers: dict[tuple[SystemId, str], Signer]
    tls: bool = True
    """Every link over TLS (AMQPS, PostgreSQL verify-full), as the hub runs in production."""

    @property
    def amqp_url(self) -> str:
        """AMQP URL of the benchmark's vhost."""
        return self.place.amqp_url

    @property
    def database_url(self) -> str:
        """DSN of the benchmark's database."""
        return self.place.database_url

    def hub_env(self) -> dict[str, str]:
        """Environment for a hub process pointed at these services, other settings default."""
        return environment(
            self.place,
            self.ring_dir,
            SESSHU_HUB__MUNICIPALITIES=",".join(MUNICIPALITIES),
            SESSHU_LOG_LEVEL="WARNING",
            # Without TLS only to measure what it costs (--no-tls).
            SESSHU_TLS__ALLOW_PLAINTEXT=str(not self.tls).lower(),
        )


def create_services(ring_dir: Path, *, tls: bool = True) -> BenchServices:
    """A new vhost and database, and a key ring in `ring_dir` with a key per sender; every
    link over TLS unless `tls` is false."""
    name = "bench" + uuid.uuid4().hex[:12]
    place = asyncio.run((Place(name, AMQPS_ROOT, PG_TLS_ROOT) if tls else Place(name)).make())
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
    # The recipients' keys, which the senders seal their records to (R43).
    for municipality, recipient in {(m, r) for _, m, r in SENDERS}:
        generate_key(
            recipient,
            municipality,
            key_id=f"{recipient.value}-{municipality}-bench",
            valid_from=datetime.now(UTC) - timedelta(days=1),
        ).write(ring_dir)
    return BenchServices(place, ring_dir, signers, tls)


def drop_services(services: BenchServices) -> None:
    """Remove the vhost and the database (the database even while a client holds it)."""
    asyncio.run(services.place.remove())
