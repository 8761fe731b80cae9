"""What every client of the hub's links uses for TLS: the SSL contexts that verify RabbitMQ
and PostgreSQL, and the warning when plaintext is allowed.

The rule itself (plaintext refused unless `tls.allow_plaintext`) is applied by
`hub.settings.load`, so no process starts on a link without TLS by mistake; a process that
was allowed one says so with `warn_plaintext` once its logging is set up.
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from hub.settings import Settings
from hub.settings.tls import PlaintextRefused, check_plaintext, plaintext_links

__all__ = [
    "PlaintextRefused",
    "amqp_ssl_context",
    "check_plaintext",
    "pg_ssl",
    "verifying_context",
    "warn_plaintext",
]


def verifying_context(ca_file: Path | str) -> ssl.SSLContext:
    """A client context that requires the server's certificate, issued by the CA in
    `ca_file`, for the host name connected to (libpq's verify-full)."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def amqp_ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The context for `amqp.url` (None for plaintext `amqp://`): it trusts the URL's
    `cafile=`, else `tls.ca_file`."""
    parts = urlsplit(settings.amqp.url.get_secret_value())
    if parts.scheme != "amqps":
        return None
    named = parse_qs(parts.query).get("cafile")
    return verifying_context(named[-1] if named else settings.tls.ca_file)


def pg_ssl(settings: Settings) -> ssl.SSLContext:
    """A verify-full context on `tls.ca_file`, for asyncpg's `ssl=` where a DSN does not
    carry its own `sslmode=verify-full&sslrootcert=`."""
    return verifying_context(settings.tls.ca_file)


def warn_plaintext(settings: Settings, log: logging.Logger) -> None:
    """One WARNING naming each link that runs without TLS because plaintext is allowed."""
    reasons = plaintext_links(settings)
    if reasons and settings.tls.allow_plaintext:
        log.warning(
            "tls.allow_plaintext is set: links without TLS (development only): %s",
            "; ".join(reason.split(";")[0] for reason in reasons),
        )
