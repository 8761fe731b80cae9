"""Queue depths for the operator console, from RabbitMQ's management HTTP API
(`SESSHU_DESK__BROKER_API_*`). The desk has no broker user and publishes nothing; this
only reads the queues of one vhost. When the API does not answer (the plugin is off, the
user may not read the vhost, the broker is away), the console says "unavailable" and goes
on: the answer is a value, never an exception.

Credentials go over plain http only to this machine (a loopback address), unless
`tls.allow_plaintext`; https is verified against `tls.ca_file`."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.client import HTTPException
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from hub.settings import Settings
from hub.tls import verifying_context

__all__ = ["QueueDepth", "QueueDepths", "queue_depths", "vhost_in", "vhost_of"]

_COLUMNS = "name,messages_ready,messages_unacknowledged,consumers"


@dataclass(frozen=True, slots=True)
class QueueDepth:
    """One queue: messages ready, delivered but not yet acknowledged, and consumers."""

    name: str
    ready: int
    unacked: int
    consumers: int


@dataclass(frozen=True, slots=True)
class QueueDepths:
    """The queues of the vhost, or why they cannot be shown (`available` False)."""

    vhost: str
    available: bool
    queues: tuple[QueueDepth, ...] = ()
    reason: str | None = None


def vhost_in(url: str) -> str:
    """The vhost an AMQP URL names (`/` for none)."""
    path = urlsplit(url).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def vhost_of(settings: Settings) -> str:
    """The vhost the console shows: the setting, or the one SESSHU_AMQP__URL names."""
    return settings.desk.broker_api_vhost or vhost_in(settings.amqp.url.get_secret_value())


async def queue_depths(settings: Settings) -> QueueDepths:
    """The vhost's queues, by name, or QueueDepths(available=False) saying why not."""
    vhost = vhost_of(settings)
    try:
        queues = await asyncio.to_thread(_fetch, settings, vhost)
    except _Refused as exc:
        return QueueDepths(vhost, available=False, reason=str(exc))
    except urllib.error.HTTPError as exc:
        return QueueDepths(vhost, available=False, reason=f"the management API answered {exc.code}")
    except (OSError, HTTPException, ValueError) as exc:  # URLError, timeouts, bad JSON
        reason = f"the management API does not answer ({type(exc).__name__})"
        return QueueDepths(vhost, available=False, reason=reason)
    return QueueDepths(vhost, available=True, queues=queues)


class _Refused(Exception):
    """The console will not send the credentials there."""


def _fetch(settings: Settings, vhost: str) -> tuple[QueueDepth, ...]:
    desk = settings.desk
    url = desk.broker_api_url.rstrip("/")
    context = _context(settings, url)
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked by _context
        f"{url}/api/queues/{quote(vhost, safe='')}?columns={_COLUMNS}",
        headers={"Authorization": _basic(desk.broker_api_user, desk.broker_api_password)},
    )
    with urllib.request.urlopen(  # noqa: S310 - http(s) only, checked above
        request, timeout=desk.broker_api_timeout_seconds, context=context
    ) as answer:
        listed: list[dict[str, Any]] = json.loads(answer.read(4 * 1024 * 1024))
    return tuple(
        sorted(
            (
                QueueDepth(
                    name=str(q["name"]),
                    ready=int(q.get("messages_ready") or 0),
                    unacked=int(q.get("messages_unacknowledged") or 0),
                    consumers=int(q.get("consumers") or 0),
                )
                for q in listed
            ),
            key=lambda q: q.name,
        )
    )


def _context(settings: Settings, url: str) -> ssl.SSLContext | None:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return verifying_context(settings.tls.ca_file)
    if parts.scheme != "http":
        raise _Refused("SESSHU_DESK__BROKER_API_URL: use http:// or https://")
    if not (_loopback(parts.hostname or "") or settings.tls.allow_plaintext):
        raise _Refused(
            "SESSHU_DESK__BROKER_API_URL: plain http to another host is refused; use https://"
        )
    return None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _basic(user: str, password: Any) -> str:
    secret = f"{user}:{password.get_secret_value()}".encode()
    return "Basic " + base64.b64encode(secret).decode()
