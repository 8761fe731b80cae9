"""A database role per party (stack/roles.py), against the real PostgreSQL: each party
does its work under its own role, and every access outside it is refused by PostgreSQL
itself, with the error PostgreSQL gives, not by the code."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from adapters.store.db import AdapterDb
from contracts.codes import SystemId
from contracts.keys import generate_key
from contracts.signing import Signer
from hub.approvals import Role
from hub.desk import Desk
from hub.desk.access import RosterEntry
from hub.desk.common import Terminal
from hub.errors import SchemaNotCurrent
from hub.ports import OutboxRow
from hub.retention import Periods
from hub.store.desk import PgDesk
from hub.store.postgres import PgStore
from stack.parties import Login, Party, parties_of
from stack.provision import PG_ROOT, Place
from stack.roles import GROUP, Roles, admin_role, drop_roles, migrate_place
from storekit.databases import drop_family
from storekit.roles import ensure_logins
from tests import harness
from tests.conftest import sweep_roles
from tests.harness import CHIKUSEI, YUKI
from tests.integration.test_store import entry

pytestmark = pytest.mark.integration

PARTIES = parties_of([CHIKUSEI, YUKI])
HUB, DESK, NWS = Party(SystemId.HUB), Party(SystemId.DESK), Party(SystemId.NWS)
HEALTH = Party(SystemId.HEALTH_MGMT, CHIKUSEI)
INTERMEDIATE = Party(SystemId.INTERMEDIATE, CHIKUSEI)
VRS = Party(SystemId.VRS, CHIKUSEI)
KIOSK = Party(SystemId.KIOSK, CHIKUSEI)
CITY, OTHER_CITY, NETWORK = f"adapters_{CHIKUSEI}", f"adapters_{YUKI}", "adapters_nws"
PASSWORD = "a long enough password 1"  # noqa: S105 - a test account's


@dataclass(frozen=True)
class Granted:
    """A place provisioned for two cities' parties, and their logins."""

    place: Place
    roles: Roles

    def url(self, party: Party, database: str) -> str:
        """The party's DSN on one of the place's databases ("" is the hub's)."""
        return self.roles[party].url(self.place.database(database))

    async def connect(self, party: Party, database: str) -> asyncpg.Connection:
        return await asyncpg.connect(self.url(party, database))

    async def root(self, database: str) -> asyncpg.Connection:
        return await asyncpg.connect(self.place.database(database))


@pytest.fixture(scope="module")
def granted() -> Iterator[Granted]:
    """One place for the module (no vhost: only its databases and roles)."""
    place = harness.test_place()
    try:
        yield Granted(place, asyncio.run(place.grant_databases(PARTIES)))
    finally:
        asyncio.run(_drop(place))


async def _drop(place: Place) -> None:
    await drop_family(place.database_url)
    await drop_roles(place)


@pytest.fixture
async def as_party(granted: Granted) -> AsyncIterator[Connector]:
    """Connections as a party, closed after the test."""
    connector = Connector(granted)
    yield connector
    await asyncio.gather(*(c.close() for c in connector.opened))


class Connector:
    """Opens connections as parties, remembering them to close."""

    def __init__(self, granted: Granted) -> None:
        self.granted = granted
        self.opened: list[asyncpg.Connection] = []

    async def __call__(self, party: Party, database: str) -> asyncpg.Connection:
        connection = await self.granted.connect(party, database)
        self.opened.append(connection)
        return connection


# -- the roles themselves --------------------------------------------------------------


async def test_no_role_is_superuser_and_each_logs_in_with_its_password(
    granted: Granted,
) -> None:
    names = [granted.roles.admin.user, *(login.user for login in granted.roles.parties.values())]
    root = await granted.root("")
    try:
        rows = await root.fetch(
            "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolbypassrls, rolcanlogin,"
            " pg_has_role(rolname, $2, 'MEMBER') AS in_group,"
            " (SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid AS a"
            "  WHERE a.rolname = r.rolname) AS scram"
            " FROM pg_roles AS r WHERE rolname = ANY($1::text[])",
            names,
            GROUP,
        )
    finally:
        await root.close()
    assert len(rows) == len(PARTIES) + 1
    for row in rows:
        assert not row["rolsuper"], row
        assert not row["rolcreatedb"], row
        assert not row["rolcreaterole"], row
        assert not row["rolbypassrls"], row
        assert row["rolcanlogin"], row
        assert row["in_group"], row
        assert row["scram"], row
    assert granted.roles[VRS].user == f"{granted.place.name}_vrs_{CHIKUSEI}"
    assert granted.roles.admin.user == admin_role(granted.place.name)


async def test_a_wrong_password_is_refused(granted: Granted) -> None:
    wrong = Login(granted.roles[VRS].user, "not-the-password").url(granted.place.database(CITY))
    try:
        connection = await asyncpg.connect(wrong)
    except asyncpg.InvalidPasswordError:
        return
    await connection.close()
    pytest.skip(
        "pg_hba.conf does not yet ask sesshu_party members for their password (it trusts "
        "127.0.0.1): run scripts/services.sh to add the scram-sha-256 lines"
    )


# -- connecting ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("party", "database"),
    [
        (VRS, OTHER_CITY),
        (VRS, ""),
        (HEALTH, NETWORK),
        (KIOSK, ""),
        (NWS, CITY),
        (NWS, ""),
        (HUB, CITY),
        (DESK, NETWORK),
        (Party(SystemId.INTERMEDIATE, YUKI), CITY),
    ],
    ids=lambda value: value.name if isinstance(value, Party) else value or "hub",
)
async def test_a_party_connects_only_to_its_own_database(
    granted: Granted, party: Party, database: str
) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied for database"):
        await granted.connect(party, database)


def _with(url: str, *, database: str | None = None, query: str | None = None) -> str:
    parts = urlsplit(url)
    path = parts.path if database is None else f"/{database}"
    return urlunsplit(parts._replace(path=path, query=parts.query if query is None else query))


@pytest.mark.parametrize("database", ["postgres", "template1"])
async def test_a_party_may_not_reach_the_maintenance_databases(
    granted: Granted, database: str
) -> None:
    """pg_hba.conf (scripts/services.sh) rejects it: it needs none, its own is made for it."""
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError, match="rejects"):
        await asyncpg.connect(_with(granted.url(VRS, CITY), database=database))


async def test_a_party_logs_in_only_over_tls(granted: Granted) -> None:
    plain = _with(granted.url(VRS, CITY), query="sslmode=disable")
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError, match=r"no encryption"):
        await asyncpg.connect(plain)


# -- the audit trail -------------------------------------------------------------------


async def test_the_desk_appends_to_the_audit_log_but_cannot_change_it(
    as_party: Connector,
) -> None:
    desk = await as_party(DESK, "")
    seq = await _audit_row(desk)
    for statement in (
        "UPDATE audit_log SET actor = 'someone-else' WHERE seq = $1",
        "DELETE FROM audit_log WHERE seq = $1",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
            await desk.execute(statement, seq)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await desk.execute("TRUNCATE audit_log")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="must be owner"):
        await desk.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")


async def test_it_is_the_grant_that_refuses_not_only_the_trigger(
    granted: Granted, as_party: Connector
) -> None:
    root, desk, hub = await granted.root(""), await as_party(DESK, ""), await as_party(HUB, "")
    seq = await _audit_row(desk)
    await root.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
    try:
        for party in (desk, hub):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await party.execute("UPDATE audit_log SET actor = 'x' WHERE seq = $1", seq)
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await party.execute("DELETE FROM audit_log WHERE seq = $1", seq)
    finally:
        await root.execute("ALTER TABLE audit_log ENABLE TRIGGER USER")
        await root.close()
    assert await desk.fetchval("SELECT actor FROM audit_log WHERE seq = $1", seq) == "test"


async def _audit_row(connection: asyncpg.Connection) -> int:
    seq = int(await connection.fetchval("SELECT coalesce(max(seq), 0) + 1 FROM audit_log"))
    await connection.execute(
        "INSERT INTO audit_log (seq, at, actor, action, detail, prev_hash, hash)"
        " VALUES ($1, now(), 'test', 'test.row', '{}', '', '')",
        seq,
    )
    return seq


async def test_the_hub_owns_its_database_but_no_table_in_it(as_party: Connector) -> None:
    hub = await as_party(HUB, "")
    assert await hub.fetchval(
        "SELECT pg_get_userbyid(datdba) = current_user FROM pg_database"
        " WHERE datname = current_database()"
    )
    for statement in (
        "DROP TABLE audit_log",
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
        "DROP SCHEMA public CASCADE",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="must be owner"):
            await hub.execute(statement)


# -- each system its own schema and its own inbox rows ----------------------------------


@pytest.mark.parametrize(
    ("party", "table"),
    [
        (VRS, "ims.residents"),
        (VRS, "intermediate.fukuhon"),
        (HEALTH, "vrs.targets"),
        (INTERMEDIATE, "ims.residents"),
        (KIOSK, "vrs.targets"),
        (KIOSK, "ims.residents"),
        (HEALTH, "nws.codes"),
        (VRS, "retention_log"),
        (HEALTH, "retention_log"),  # it appends its counts; the operator reads them
    ],
    ids=lambda value: value.name if isinstance(value, Party) else value,
)
async def test_a_system_reads_no_other_systems_tables(
    as_party: Connector, party: Party, table: str
) -> None:
    connection = await as_party(party, CITY)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
        await connection.fetch(f"SELECT * FROM {table}")  # noqa: S608 - the test's own names


@pytest.mark.parametrize(
    ("party", "database", "table"),
    [
        (HEALTH, CITY, "ims.residents"),
        (INTERMEDIATE, CITY, "intermediate.linkage_codes"),
        (VRS, CITY, "vrs.targets"),
        (NWS, NETWORK, "nws.permits"),
    ],
    ids=lambda value: value.name if isinstance(value, Party) else value,
)
async def test_a_system_reads_its_own_schema(
    as_party: Connector, party: Party, database: str, table: str
) -> None:
    connection = await as_party(party, database)
    assert await connection.fetch(f"SELECT * FROM {table}") == []  # noqa: S608


async def test_the_network_reaches_no_city_schema_in_its_database(as_party: Connector) -> None:
    network = await as_party(NWS, NETWORK)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await network.fetch("SELECT * FROM ims.residents")


async def test_a_system_sees_and_writes_only_its_own_inbox_rows(
    granted: Granted, as_party: Connector
) -> None:
    theirs, ours = f"adapter.intermediate.{CHIKUSEI}", f"adapter.health_mgmt.{CHIKUSEI}"
    root = await granted.root(CITY)
    try:
        await root.execute(
            "INSERT INTO adapter_inbox (consumer, message_id) VALUES ($1, $2)", theirs, uuid.uuid4()
        )
        await root.execute(
            "INSERT INTO adapter_effects (consumer, message_id, effect) VALUES ($1, $2, 'x')",
            theirs,
            uuid.uuid4(),
        )
    finally:
        await root.close()
    health = await as_party(HEALTH, CITY)
    await health.execute(
        "INSERT INTO adapter_inbox (consumer, message_id) VALUES ($1, $2)", ours, uuid.uuid4()
    )
    for table in ("adapter_inbox", "adapter_effects"):
        seen = await health.fetch(f"SELECT DISTINCT consumer FROM {table}")  # noqa: S608
        assert theirs not in {row["consumer"] for row in seen}
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        await health.execute(
            "INSERT INTO adapter_inbox (consumer, message_id) VALUES ($1, $2)",
            theirs,
            uuid.uuid4(),
        )
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        await health.execute(
            "INSERT INTO adapter_effects (consumer, message_id, effect) VALUES ($1, $2, 'x')",
            theirs,
            uuid.uuid4(),
        )
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await health.execute("DELETE FROM adapter_inbox")


async def test_an_adapter_opens_its_database_as_its_role_without_migrating(
    granted: Granted,
) -> None:
    for party in (KIOSK, VRS):
        db = await AdapterDb.open(granted.url(party, CITY), size=1)
        try:
            consumer, message = f"adapter.{party.system.value}.{CHIKUSEI}", str(uuid.uuid4())
            for fresh in (True, False):  # a redelivery is a no-op, under the policy too
                async with db.first_time(consumer, message) as transaction:
                    assert transaction.fresh is fresh
                    await transaction.record_effect("seen")
        finally:
            await db.close()
        # The default opener migrates only what is behind: nothing here, so no DDL either.
        await (await AdapterDb.open(granted.url(party, CITY), size=1)).close()


async def test_health_management_and_the_intermediate_server_log_their_prunes(
    as_party: Connector,
) -> None:
    for party in (HEALTH, INTERMEDIATE):
        connection = await as_party(party, CITY)
        await connection.execute(
            "INSERT INTO retention_log (actor, counts) VALUES ('system:stack', '{}')"
        )
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await connection.execute("DELETE FROM retention_log")


# -- the hub and the desk at work ------------------------------------------------------


async def _publish_all(rows: Sequence[OutboxRow]) -> list[int]:
    return [row.seq for row in rows]


def _desk(store: PgDesk) -> Desk:
    key = generate_key(SystemId.HUB, None, valid_from=datetime.now(UTC) - timedelta(days=1))
    return Desk(store, Signer(key.entry.key_id, key.signing), policy_version="test-1")


async def test_the_hub_journals_relays_and_keeps_house_as_its_own_role(granted: Granted) -> None:
    store = await PgStore.connect(granted.url(HUB, ""), claim_seconds=0.01)
    try:
        assert await store.migrate() == []  # its admin migrated it: nothing for the hub to do
        queued = await store.record([entry("roles-1"), entry("roles-2", "hold")])
        assert queued["roles-1"] is not None
        await asyncio.sleep(0.05)  # past the claim: the relay's turn
        assert await store.relay(_publish_all, limit=10) >= 1
    finally:
        await store.close()
    desk = _desk(await PgDesk.connect(granted.url(HUB, ""), size=1))
    try:
        await desk.expire_due()
        assert await desk.seal_journal(0) is not None
        assert await desk.checkpoint() is not None
        await desk.record_change("keys.loaded", {"keys": 1})
        nothing_kept = Periods(timedelta(0), timedelta(0), timedelta(0), {})
        await desk.prune(nothing_kept, batch=100)
    finally:
        await desk.store.close()


async def test_the_desk_keeps_accounts_and_decides_as_its_own_role(granted: Granted) -> None:
    hub = await PgStore.connect(granted.url(HUB, ""), claim_seconds=0.01)
    try:
        await hub.record([entry("roles-11", "hold")])
    finally:
        await hub.close()
    store = await PgDesk.connect(granted.url(DESK, ""), size=2)
    desk = _desk(store)
    try:
        await desk.add_staff(
            "approver.roles",
            roles=[Role.APPROVER],
            municipality=CHIKUSEI,
            department="health-promotion",
            password=PASSWORD,
            terminals=["127.0.0.1/32"],
        )
        secret, _ = await desk.login("approver.roles", PASSWORD, Terminal("127.0.0.1", "test"))
        await desk.logout(secret, Terminal("127.0.0.1", "test"))
        # A contractor with its roster entry, its terminals changed (R23, R26/R27).
        today = datetime.now(UTC).date()
        await desk.add_staff(
            "vendor.roles",
            roles=[Role.CONTRACTOR],
            municipality=CHIKUSEI,
            department="vendor-maintenance",
            password=PASSWORD,
            terminals=[],
            roster=RosterEntry(
                "Example K.K.", "a name", today - timedelta(days=1), today + timedelta(days=1)
            ),
        )
        await desk.change_terminals("vendor.roles", add=["127.0.0.1"])
        await desk.login("vendor.roles", PASSWORD, Terminal("127.0.0.1", "test"))
        await _decide_and_release(store, "019abf3c-2a00-7000-8000-000000000011")
    finally:
        await store.close()


async def _decide_and_release(store: PgDesk, message_id: str) -> None:
    """Every statement of a decision on a held message, as the desk runs them."""
    async with store.transaction() as tx:
        held = await tx.lock_held(message_id)
        assert held is not None
        now = datetime.now(UTC)
        await tx.decide(
            message_id,
            "approved",
            decided_by="approver.roles",
            decided_at=now,
            comment=None,
            content_sha256="0" * 64,
            released_at=now,
        )
        await tx.release(held.row.journal_seq, message_id, "sesshu.deliver", "vrs.082279", {})
        await tx.provision(message_id, "released", now)
        await tx.record([entry("roles-12")])


async def test_the_desk_cannot_prune_or_rewrite_the_journal(as_party: Connector) -> None:
    desk = await as_party(DESK, "")
    for statement in (
        "DELETE FROM provision_records",
        "UPDATE journal SET canonical = NULL",
        "DELETE FROM journal",
        "UPDATE audit_checkpoints SET signature = ''",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await desk.execute(statement)


# -- migrations run as the admin; each run re-grants -----------------------------------


async def test_granting_again_after_migrating_changes_nothing(
    granted: Granted, as_party: Connector
) -> None:
    before = await _privileges(granted)
    await migrate_place(granted.place, PARTIES, granted.roles.admin)
    assert await _privileges(granted) == before
    for party in (HUB, DESK):
        has = before[granted.roles[party].user]
        assert ("audit_log", "INSERT") in has
        assert (
            not {("audit_log", "UPDATE"), ("audit_log", "DELETE"), ("audit_log", "TRUNCATE")} & has
        )


async def _privileges(granted: Granted) -> dict[str, set[tuple[str, str]]]:
    root = await granted.root("")
    try:
        rows = await root.fetch(
            "SELECT grantee, table_name, privilege_type FROM information_schema.table_privileges"
            " WHERE table_schema = 'public' AND grantee = ANY($1::text[])",
            [granted.roles[HUB].user, granted.roles[DESK].user],
        )
    finally:
        await root.close()
    found: dict[str, set[tuple[str, str]]] = {}
    for row in rows:
        found.setdefault(row["grantee"], set()).add((row["table_name"], row["privilege_type"]))
    return found


async def test_a_party_never_migrates_and_says_what_is_missing() -> None:
    place = harness.test_place()
    try:
        roles = await place.grant_databases([HUB, DESK])
        root = await asyncpg.connect(place.database_url)
        try:
            await root.execute("DELETE FROM schema_migrations WHERE number = 6")
        finally:
            await root.close()
        hub = await PgStore.connect(roles[HUB].url(place.database_url))
        try:
            with pytest.raises(SchemaNotCurrent, match=r"0006_retention.*may not migrate"):
                await hub.migrate()
        finally:
            await hub.close()
        with pytest.raises(SchemaNotCurrent, match="0006_retention"):
            await PgDesk.connect(roles[DESK].url(place.database_url))
    finally:
        await place.remove()
    assert await _roles_named(place.name) == []


async def _roles_named(prefix: str) -> list[str]:
    root = await asyncpg.connect(PG_ROOT + "postgres")
    try:
        rows = await root.fetch(
            "SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)", prefix
        )
    finally:
        await root.close()
    return [row["rolname"] for row in rows]


async def test_the_sweep_drops_the_roles_of_runs_that_died(granted: Granted) -> None:
    dead = await asyncio.create_subprocess_exec("true")
    await dead.wait()
    gone = f"sesshu_test_{dead.pid}_deadbeef"
    await ensure_logins(
        PG_ROOT + "postgres", {f"{gone}_hub": "x", admin_role(gone): "y"}, group=GROUP
    )
    await sweep_roles()
    assert await _roles_named(gone) == []
    assert granted.roles[HUB].user in await _roles_named(granted.place.name)  # alive: kept


@pytest.mark.parametrize("table", ["staff", "sessions", "contractor_roster"])
async def test_the_hub_worker_may_not_read_the_desks_accounts(
    as_party: Connector, table: str
) -> None:
    """Password hashes, session tokens and contractors' names are the desk's alone."""
    hub = await as_party(HUB, "")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
        await hub.fetch(f"SELECT * FROM {table}")  # noqa: S608 - a fixed table name
