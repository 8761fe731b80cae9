"""The parties of a stack, each of which gets its own broker user, database role and key
folder (least privilege, R15, R41, R43): the hub, the approval desk, the network, and each
system of each city.

A party's name is `hub`, `desk`, `nws` or `<system>-<code>` (`vrs-082279`): its key
folder's name under the stack's key root, and the last part of its broker user
(`<place>.<name>`) and database role (`<place>_<name>`, with `_` for `-`).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit, urlunsplit

from contracts.codes import SystemId

__all__ = ["CITY_SYSTEMS", "Login", "Party", "parties_of"]

CITY_SYSTEMS = (SystemId.HEALTH_MGMT, SystemId.INTERMEDIATE, SystemId.VRS, SystemId.KIOSK)
"""The systems each city runs, one process (and one party) each."""


@dataclass(frozen=True, order=True)
class Party:
    """One party: a system, of one city or (the hub, the desk, the network) of none."""

    system: SystemId
    municipality: str | None = None

    def __post_init__(self) -> None:
        shared = self.system in (SystemId.HUB, SystemId.DESK, SystemId.NWS)
        if shared != (self.municipality is None):
            raise ValueError(
                f"party {self.system.value}: municipality must be set for city systems only"
            )

    @property
    def name(self) -> str:
        """`hub`, `desk`, `nws`, or `<system>-<code>`."""
        if self.municipality is None:
            return self.system.value
        return f"{self.system.value}-{self.municipality}"

    @classmethod
    def named(cls, name: str) -> Party:
        """The party of a name (ValueError for one that names none)."""
        system, _, city = name.partition("-")
        try:
            return cls(SystemId(system), city or None)
        except ValueError:
            raise ValueError(f"not a party's name: {name!r}") from None

    def broker_user(self, place: str) -> str:
        """Its RabbitMQ user in a place (users are the broker's, not a vhost's)."""
        return f"{place}.{self.name}"

    def database_role(self, place: str) -> str:
        """Its PostgreSQL role in a place (roles are the cluster's, not a database's)."""
        return f"{place}_{self.name.replace('-', '_')}"


def parties_of(cities: Iterable[str], *, desk: bool = True) -> tuple[Party, ...]:
    """Every party of a stack serving `cities`: the hub, the desk, the network, and each
    city's four systems."""
    shared = [Party(SystemId.HUB)] + ([Party(SystemId.DESK)] if desk else [])
    shared.append(Party(SystemId.NWS))
    return (*shared, *(Party(system, code) for code in cities for system in CITY_SYSTEMS))


@dataclass(frozen=True)
class Login:
    """A party's user name and password on a server (its broker user, its database role)."""

    user: str
    password: str = field(default="", repr=False)

    @classmethod
    def drawn(cls, user: str) -> Login:
        """A login with a fresh password."""
        return cls(user, secrets.token_urlsafe(24))

    def url(self, base: str) -> str:
        """`base` (an AMQP URL or a DSN: its host, port, vhost or database and options)
        logged in as this user instead."""
        parts = urlsplit(base)
        host = parts.netloc.rpartition("@")[2]
        credentials = f"{quote(self.user, safe='')}:{quote(self.password, safe='')}"
        return urlunsplit(parts._replace(netloc=f"{credentials}@{host}"))
