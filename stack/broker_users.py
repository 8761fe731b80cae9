"""Each party's RabbitMQ user in a stack's vhost, with the least it needs (R15, R41).

    party          configure                 write                      read
    hub            its exchanges and queues  sesshu.deliver/dead, its   sesshu.* exchanges (to
                   and every adapter queue   queues (to bind them)      bind), hub.ingress
    <system>-<c>   nothing                   sesshu.ingress, routing    adapter.<system>.<c>
                                             keys: the kinds it sends
    nws            nothing                   sesshu.ingress, its kinds  adapter.nws.<any city>

The desk publishes nothing (its attestations go out through the hub's outbox), so it has
no user. Users are the broker's, not a vhost's: each is named `<place>.<party>` and removed
with the place. Passwords are drawn anew each time a place is provisioned and handed to
the party's process in its URL; RabbitMQ keeps only their salted SHA-256.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import subprocess
from collections.abc import Iterable, Mapping
from typing import Any

from contracts.broker import (
    DEAD_EXCHANGE,
    DEAD_QUEUE,
    DELIVER_EXCHANGE,
    INGRESS_EXCHANGE,
    INGRESS_QUEUE,
    KINDS_SENT,
    adapter_queue,
)
from contracts.codes import SystemId
from stack.parties import Login, Party

__all__ = [
    "definitions",
    "logins_for",
    "permissions_of",
    "remove_users",
    "remove_users_command",
]


def _exactly(*names: str) -> str:
    return _any_of(*(re.escape(name) for name in sorted(names)))


def _any_of(*patterns: str) -> str:
    return "^(" + "|".join(patterns) + ")$"


NOTHING = "^$"
_ANY_ADAPTER_QUEUE = r"adapter\.[a-z_]+\.[0-9]{6}"


def permissions_of(party: Party) -> tuple[dict[str, str], dict[str, str] | None]:
    """(configure/write/read regular expressions, the topic permission on the ingress
    exchange or None) of a party's user."""
    if party.system is SystemId.HUB:
        exchanges = (INGRESS_EXCHANGE, DELIVER_EXCHANGE, DEAD_EXCHANGE)
        queues = (INGRESS_QUEUE, DEAD_QUEUE)
        return {
            "configure": _any_of(*map(re.escape, exchanges + queues), _ANY_ADAPTER_QUEUE),
            # Binding a queue is writing to it; dead-lettering and delivering, to exchanges.
            "write": _any_of(
                *map(re.escape, (DELIVER_EXCHANGE, DEAD_EXCHANGE, *queues)), _ANY_ADAPTER_QUEUE
            ),
            # Binding from an exchange is reading it; consuming, the ingress queue.
            "read": _exactly(*exchanges, INGRESS_QUEUE),
        }, None
    if party.system is SystemId.DESK:
        raise ValueError("the desk publishes nothing and has no broker user")
    if party.municipality is None:  # the network serves every city's queue
        read = "^" + re.escape(f"adapter.{party.system.value}.") + "[0-9]{6}$"
    else:
        read = _exactly(adapter_queue(party.system, party.municipality))
    regular = {"configure": NOTHING, "write": _exactly(INGRESS_EXCHANGE), "read": read}
    topic = {"exchange": INGRESS_EXCHANGE, "write": _exactly(*KINDS_SENT[party.system])}
    return regular, topic | {"read": NOTHING}


def definitions(vhost: str, logins: Mapping[Party, Login]) -> dict[str, Any]:
    """The `rabbitmqctl import_definitions` document that makes the vhost and each party's
    user with its permissions (importing it again resets the passwords)."""
    users, permissions, topics = [], [], []
    for party, login in logins.items():
        users.append(
            {
                "name": login.user,
                "password_hash": _password_hash(login.password),
                "hashing_algorithm": "rabbit_password_hashing_sha256",
                "tags": "",
            }
        )
        regular, topic = permissions_of(party)
        permissions.append({"user": login.user, "vhost": vhost} | regular)
        if topic is not None:
            topics.append({"user": login.user, "vhost": vhost} | topic)
    return {
        "vhosts": [{"name": vhost}],
        "users": users,
        "permissions": permissions,
        "topic_permissions": topics,
    }


def remove_users_command(prefix: str) -> list[str]:
    """The rabbitmqctl arguments that delete every user named `<prefix>...` in one call
    (one Erlang VM start, not one per user)."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", prefix):
        raise ValueError("a user prefix is letters, digits, '_', '.' and '-'")
    erlang = (
        f'P = <<"{prefix}">>, '
        '[rabbit_auth_backend_internal:delete_user(N, <<"sesshu">>) '
        "|| U <- rabbit_auth_backend_internal:all_users(), "
        "N <- [internal_user:get_username(U)], "
        "binary:longest_common_prefix([N, P]) =:= byte_size(P)], ok."
    )
    return ["eval", erlang]


def remove_users(prefix: str) -> bool:
    """Delete every broker user named `<prefix>...`; False if rabbitmqctl failed (the
    broker down: the test sweep removes them later)."""
    done = subprocess.run(  # noqa: S603 - fixed program, our own arguments
        ["rabbitmqctl", "-q", *remove_users_command(prefix)],  # noqa: S607
        check=False,
        capture_output=True,
        timeout=120,
    )
    return done.returncode == 0


def logins_for(place: str, parties: Iterable[Party]) -> dict[Party, Login]:
    """A fresh login for each party that has a broker user (every one but the desk)."""
    return {
        party: Login.drawn(party.broker_user(place))
        for party in parties
        if party.system is not SystemId.DESK
    }


def _password_hash(password: str) -> str:
    # rabbit_password_hashing_sha256: base64(salt ++ sha256(salt ++ password)), 4-byte salt.
    salt = os.urandom(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()
