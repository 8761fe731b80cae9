"""TLS on every link, against the real servers that scripts/services.sh configured: AMQPS on
5671 and PostgreSQL's ssl = on, both verified against the local CA (var/tls/); a client
trusting another CA is refused; the desk answers over HTTPS."""

from __future__ import annotations

import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

import aio_pika
import asyncpg
import pytest
from aiormq.exceptions import AMQPConnectionError

from adapters.kit import make_broker
from hub.tls import amqp_ssl_context, pg_ssl, verifying_context
from stack import tls
from stack.processes import Processes
from stack.provision import TLS_CA
from tests.harness import Services, free_ports

pytestmark = pytest.mark.integration

SSL_OF_BACKEND = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


@pytest.fixture
def other_ca(tmp_path: Path) -> Path:
    """A CA of its own, which signed nothing these servers present."""
    tls.init(tmp_path / "other", services=())
    return tmp_path / "other" / "ca.pem"


async def test_the_harness_links_are_amqps_and_verified_postgresql(services: Services) -> None:
    assert services.amqp_url.startswith("amqps://")
    settings = services.settings()
    connection = await aio_pika.connect(services.amqp_url, ssl_context=amqp_ssl_context(settings))
    try:
        assert (await connection.channel()).is_initialized
    finally:
        await connection.close()
    database = await asyncpg.connect(services.database_url)
    try:
        assert await database.fetchval(SSL_OF_BACKEND) is True
    finally:
        await database.close()


async def test_the_adapters_broker_and_an_explicit_context_go_over_tls(services: Services) -> None:
    broker = make_broker(services.amqp_url, ssl_context=verifying_context(TLS_CA))
    await broker.connect()
    await broker.stop()
    # asyncpg given the context itself (pg_ssl), on a DSN that names no sslmode.
    plain_dsn = services.database_url.split("?")[0]
    database = await asyncpg.connect(plain_dsn, ssl=pg_ssl(services.settings()))
    try:
        assert await database.fetchval(SSL_OF_BACKEND) is True
    finally:
        await database.close()


async def test_a_client_trusting_another_ca_is_refused(services: Services, other_ca: Path) -> None:
    with pytest.raises(AMQPConnectionError, match="certificate verify failed"):
        await aio_pika.connect(services.amqp_url, ssl_context=verifying_context(other_ca))
    dsn = services.database_url.split("?")[0] + f"?sslmode=verify-full&sslrootcert={other_ca}"
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        await asyncpg.connect(dsn)


def test_the_desk_answers_over_https_verified_by_the_ca(
    services: Services, policy_dir: Path, tmp_path: Path
) -> None:
    port = free_ports()
    env = services.env(
        SESSHU_ROUTING__POLICY_DIR=str(policy_dir),
        SESSHU_DESK__HTTP_PORT=str(port),
        SESSHU_TLS__DESK_CERT_FILE=str(TLS_CA.parent / "desk.pem"),
        SESSHU_TLS__DESK_KEY_FILE=str(TLS_CA.parent / "desk.key"),
    )
    desk = Processes(env, tmp_path)
    process = desk.module("desk", "hub.web", [])
    try:
        status = _healthz(f"https://127.0.0.1:{port}/healthz", verifying_context(TLS_CA), process)
        assert status == 200
        # Nothing trusts it without the CA.
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urllib.request.urlopen(
                f"https://localhost:{port}/healthz", context=ssl.create_default_context()
            )
    finally:
        assert desk.stop(timeout=15) == {"desk": 0}, desk.log("desk")


def _healthz(url: str, context: ssl.SSLContext, process: object) -> int:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1, context=context) as answer:  # noqa: S310
                return int(answer.status)
        except ssl.SSLError:
            raise
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:  # type: ignore[attr-defined]
                raise
            time.sleep(0.2)
