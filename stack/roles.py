"""A database role per party (R15, R41): no process of a stack runs as the superuser.

Provisioning (`Place.make(parties=...)`, the operator's install step, with the superuser's
DSN) makes, in the cluster:

    sesshu_party         NOLOGIN group of every role below: pg_hba.conf asks its members
                         for their password (scram-sha-256, scripts/services.sh)
    <place>_admin        owns every schema object and runs the migrations; no superuser
    <place>_<party>      each party's log-in role (`Party.database_role`), a generated
                         password, no superuser, no CREATEDB, no CREATEROLE

and in each database of the place (grants.sql says exactly what each may do):

    <place>                the hub's: owned by the hub's role; the hub and the desk connect
    <place>_adapters_<code> a city's: its four systems connect, each to its own schema
                         (health_mgmt: ims; intermediate; vrs; the kiosk: kiosk) and, by
                         row-level security, its own rows of the shared inbox
    <place>_adapters_nws   the network's: the network alone, its schema nws

Then it migrates every database as the admin and applies the grants (`migrate_place`,
again after any later migration). The run-time openers migrate only what is behind, so a
party's role opens a current database and is refused (SchemaNotCurrent) one that is not.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from adapters.store.queries import MIGRATIONS_DIR as ADAPTER_MIGRATIONS
from contracts.broker import adapter_queue
from contracts.codes import SystemId
from hub.store.postgres import MIGRATIONS_DIR as HUB_MIGRATIONS
from stack.parties import CITY_SYSTEMS, Login, Party
from storekit.databases import ensure_database
from storekit.migrate import migrate_database
from storekit.queries import Queries
from storekit.roles import drop_members, ensure_logins, identifier, literal, run_script

if TYPE_CHECKING:
    from stack.provision import Place

__all__ = [
    "GROUP",
    "SCHEMAS",
    "Roles",
    "admin_role",
    "drop_roles",
    "make_roles",
    "migrate_place",
    "provision_databases",
]

GROUP = "sesshu_party"
SCHEMAS: Mapping[SystemId, str] = {
    SystemId.HEALTH_MGMT: "ims",
    SystemId.INTERMEDIATE: "intermediate",
    SystemId.VRS: "vrs",
    SystemId.NWS: "nws",
    SystemId.KIOSK: "kiosk",
}
"""Each system's own schema in its database (the kiosk's: its record of applications)."""
PRUNING = frozenset({SystemId.HEALTH_MGMT, SystemId.INTERMEDIATE})
"""The systems whose retention writes `retention_log`."""

_sql = Queries(Path(__file__).parent)


@dataclass(frozen=True)
class Roles:
    """What `make_roles` made: the admin's login and each party's."""

    admin: Login
    parties: Mapping[Party, Login]

    def __getitem__(self, party: Party) -> Login:
        return self.parties[party]


def admin_role(place: str) -> str:
    """The place's admin role: owns the schema objects, runs the migrations."""
    return f"{place}_admin"


async def make_roles(place: Place, parties: Sequence[Party]) -> Roles:
    """The admin's and each party's log-in role, made or (again) given a new password."""
    admin = Login.drawn(admin_role(place.name))
    logins = {party: Login.drawn(party.database_role(place.name)) for party in parties}
    passwords = {login.user: login.password for login in (admin, *logins.values())}
    await ensure_logins(_root(place), passwords, group=GROUP)
    return Roles(admin, logins)


async def drop_roles(place: Place) -> list[str]:
    """Drop the place's roles (after its databases); the names dropped."""
    # Exactly its roles: `sesshu_` is also the beginning of every test place's names.
    systems = "|".join(system.value for system in CITY_SYSTEMS)
    names = rf"{re.escape(place.name)}_(admin|hub|desk|nws|({systems})_[0-9]{{6}})"
    return await drop_members(_root(place), GROUP, names)


async def provision_databases(place: Place, parties: Sequence[Party]) -> Roles:
    """The place's roles, each database its parties use made and opened to them alone,
    migrated as the admin and granted (`migrate_place`); the logins."""
    roles = await make_roles(place, parties)
    await asyncio.gather(*(_open_to(place, db, roles) for db in _databases(place, parties)))
    await migrate_place(place, parties, roles.admin)
    return roles


async def migrate_place(place: Place, parties: Sequence[Party], admin: Login) -> None:
    """Every database of the place migrated as its admin, then its grants applied anew
    (a later migration's tables are granted too)."""
    await asyncio.gather(*(_migrate(place, db, admin) for db in _databases(place, parties)))


@dataclass(frozen=True)
class _Database:
    """One database of a place, the parties that connect to it, the owner's role."""

    name: str
    parties: tuple[Party, ...]

    @property
    def hub(self) -> bool:
        return not self.name.startswith("adapters")

    def owner(self, place: str) -> str:
        hub = [p for p in self.parties if p.system is SystemId.HUB]
        return hub[0].database_role(place) if hub else admin_role(place)


def _databases(place: Place, parties: Sequence[Party]) -> list[_Database]:
    by_name: dict[str, list[Party]] = {}
    for party in parties:
        by_name.setdefault(_database_of(party), []).append(party)
    return [_Database(name, tuple(members)) for name, members in by_name.items()]


def _database_of(party: Party) -> str:
    """The owner part of `Place.database`: "" for the hub's, `adapters_<code>`."""
    if party.system in (SystemId.HUB, SystemId.DESK):
        return ""
    return f"adapters_{party.municipality or 'nws'}"


async def _open_to(place: Place, db: _Database, roles: Roles) -> None:
    dsn = place.database(db.name)
    await ensure_database(dsn)
    users = ", ".join(identifier(roles[p].user) for p in db.parties)
    await run_script(
        dsn,
        _sql("database_access").format(
            database=identifier(urlsplit(dsn).path.lstrip("/")),
            owner=identifier(db.owner(place.name)),
            admin=identifier(roles.admin.user),
            users=users,
        ),
    )


async def _migrate(place: Place, db: _Database, admin: Login) -> None:
    dsn = admin.url(place.database(db.name))
    await migrate_database(dsn, HUB_MIGRATIONS if db.hub else ADAPTER_MIGRATIONS)
    await run_script(
        dsn, _hub_grants(place.name, db) if db.hub else _adapter_grants(place.name, db)
    )


def _hub_grants(place: str, db: _Database) -> str:
    names = {p.system: identifier(p.database_role(place)) for p in db.parties}
    script = [_sql("hub_reset").format(users=", ".join(names.values()))]
    if SystemId.HUB in names:
        script.append(_sql("hub_worker").format(hub=names[SystemId.HUB]))
    if SystemId.DESK in names:
        script.append(_sql("hub_desk").format(desk=names[SystemId.DESK]))
    return "\n".join(script)


def _adapter_grants(place: str, db: _Database) -> str:
    users = ", ".join(identifier(p.database_role(place)) for p in db.parties)
    script = [_sql("adapters_reset").format(users=users)]
    for party in db.parties:
        script.extend(_system_grants(party, identifier(party.database_role(place))))
    return "\n".join(script)


def _system_grants(party: Party, role: str) -> list[str]:
    script = [_sql("adapters_system").format(role=role, consumers=_consumers(party))]
    if party.system in SCHEMAS:
        script.append(_sql("adapters_schema").format(role=role, schema=SCHEMAS[party.system]))
    if party.system in PRUNING:
        script.append(_sql("adapters_retention").format(role=role))
    return script


def _consumers(party: Party) -> str:
    """The inbox rows a system's policy lets it see and write: its queue's; the network
    serves every city's queue `adapter.nws.<code>`."""
    if party.municipality is None:
        return f"starts_with(consumer, {literal(adapter_queue(party.system, ''))})"
    return f"consumer = {literal(adapter_queue(party.system, party.municipality))}"


def _root(place: Place) -> str:
    """The superuser's DSN on the server's maintenance database."""
    return urlunsplit(urlsplit(place.pg_base)._replace(path="/postgres"))
