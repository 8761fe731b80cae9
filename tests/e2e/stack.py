"""The whole stack as processes for end-to-end tests: the hub, the network and both
cities' adapters (`sesshu stack network|city`), on a fresh vhost and fresh databases."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from adapters.health_mgmt.simulator import forms_csv
from adapters.kit import rows
from adapters.kit.acts import Act
from adapters.store.atrest import DataKeys
from adapters.store.sealed import RESIDENTS, SealedTable
from contracts.codes import SystemId
from contracts.envelope import Declaration, Envelope, Party, Recipient
from contracts.keys import KeyRing
from contracts.payloads import Payload
from contracts.sealing import addressed_envelope, sealing_secret
from hub.approvals import Role
from hub.desk import HeldRow, Terminal, open_desk
from stack import parties
from stack.keys import keys_for, party_folder
from stack.launch import party_envs
from stack.processes import Processes, stack_commands
from stack.provision import TLS_CA
from stack.rosters import HEALTH_CLERK
from stack.terminals import clerk_token_of, terminal_tokens, token_of
from tests.harness import (
    CHIKUSEI,
    PASSWORD,
    YUKI,
    HubProcess,
    Services,
    free_ports,
)
from tests.probes import topology_ready, wait_for
from tests.traffic import publish

__all__ = ["CITIES", "Stack", "kiosk_url", "records_csv", "rows_csv"]

SYSTEM_OF_SCHEMA = {"ims": SystemId.HEALTH_MGMT, "vrs": SystemId.VRS}
"""Which system's data key opens a sealed table."""

CITIES = (CHIKUSEI, YUKI)


def free_port_pair() -> int:
    """A port whose next one is free too (one certificate center per city)."""
    return free_ports(2)


def rows_csv(made: Sequence[Mapping[str, object]], by: Act | None = HEALTH_CLERK) -> bytes:
    """A request file of `made` rows, each made by the stack roster's clerk at the
    clerk's terminal (stack.rosters), as the edges require, unless `by` says otherwise."""
    return rows.rows_csv(made, by)


def records_csv(
    made: list[dict[str, str]], *, encoding: str = "utf-8", by: Act | None = HEALTH_CLERK
) -> bytes:
    """A batch of returned 予診票, keyed in by the stack roster's clerk (`rows_csv`)."""
    return forms_csv(made, encoding=encoding, by=by)


@dataclass
class Stack:
    """The running processes and where their edges and databases are."""

    services: Services
    root: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    desk_env: dict[str, str] = field(default_factory=dict)
    """The desk's own settings (its database role, its review keys), once started."""
    hub: HubProcess | None = None
    processes: Processes | None = None
    kiosk_port: int = field(default_factory=free_port_pair)
    metrics_base: int = field(default_factory=lambda: free_ports(24))
    metrics_ports: dict[str, int] = field(default_factory=dict)
    """Each process's `/metrics` port, by name, once started."""

    @property
    def key_root(self) -> Path:
        """Every party's own key folder, `<key_root>/<party>/` (stack.keys)."""
        return self.root / "parties"

    def key_dir(self, system: SystemId, city: str | None = None) -> Path:
        """One party's key folder."""
        return party_folder(self.key_root, parties.Party(system, city))

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def roster_dir(self) -> Path:
        """The cities' rosters (stack.rosters' demo clerks), which the edges check."""
        return self.root / "rosters"

    @property
    def terminal_dir(self) -> Path:
        """The certificate centers' terminal registries (stack.terminals' demo terminals)."""
        return self.root / "terminals"

    def token(self, city: str, terminal: str) -> str:
        """The credential a demo terminal of `city` sends to the center."""
        return token_of(terminal_tokens(self.key_root), city, terminal)

    def clerk_token(self, city: str, account: str) -> str:
        """The credential a demo counter clerk of `city` signs in with."""
        return clerk_token_of(terminal_tokens(self.key_root), city, account)

    def env(self) -> dict[str, str]:
        return self.services.env(
            SESSHU_ADAPTERS__DATA_DIR=str(self.data_dir),
            SESSHU_ADAPTERS__ROSTER_DIR=str(self.roster_dir),
            SESSHU_ADAPTERS__TERMINAL_DIR=str(self.terminal_dir),
            SESSHU_ADAPTERS__MUNICIPALITIES=",".join(CITIES),
            SESSHU_ADAPTERS__POLL_INTERVAL_SECONDS="0.3",
            SESSHU_ADAPTERS__KIOSK_HTTP_PORT=str(self.kiosk_port),
            SESSHU_ADAPTERS__KIOSK_ENROLLED=CHIKUSEI,
            SESSHU_ADAPTERS__CERTIFICATE_WAIT_SECONDS="5",
            **self.extra_env,
        )

    def database_url(self, owner: str) -> str:
        """A city's or the network's adapter database, or the hub's (`owner` "hub")."""
        if owner == "hub":
            return self.services.database_url
        return self.services.place.database(f"adapters_{owner}")

    async def start(self) -> Stack:
        # The hub process and the in-process desk use the harness's hub and desk keys: they
        # are put in those parties' folders, so no others are made.
        _copy_keys(self.services.hub_key_file.parent, self.key_dir(SystemId.HUB))
        _copy_keys(self.services.desk_key_dir, self.key_dir(SystemId.DESK))
        envs = await party_envs(
            self.services.place,
            self.key_root,
            self.services.ring_dir,
            CITIES,
            tls_dir=TLS_CA.parent,
            metrics_port=self.metrics_base,
            roster_dir=self.roster_dir,
            terminal_dir=self.terminal_dir,
        )
        self.metrics_ports = {
            name: int(env["SESSHU_TELEMETRY__METRICS_PORT"])
            for name, env in envs.items()
            if name != "desk"  # the desk runs in the test's process
        }
        # Every process, the hub too, as its own party; the in-process desk as the desk.
        self.desk_env = envs["desk"]
        self.hub = HubProcess(self.services, extra_env=self.extra_env | envs["hub"]).start()
        await wait_for(lambda: topology_ready(self.services), 30, "the hub's topology")
        self.processes = Processes(self.env(), self.root)
        commands = stack_commands(CITIES, desk=False)
        del commands["hub"]  # started above, to wait for its topology
        self.processes.start_all(commands, envs)
        # The network distributes the list to each server when it starts (F8).
        for city in CITIES:
            await wait_for(functools.partial(self._has_list, city), 60, f"the list at {city}")
        return self

    async def _has_list(self, city: str) -> bool:
        return await self.exists(city, "SELECT 1 FROM intermediate.network_list")

    def logs(self) -> str:
        parts = [self.hub.log() if self.hub else ""]
        parts += [self.processes.logs() if self.processes else ""]
        return "\n".join(parts)

    def stop(self) -> dict[str, int]:
        codes = self.processes.stop() if self.processes else {}
        if self.hub is not None:
            codes["hub"] = self.hub.stop()
        return codes

    def drop(self, city: str, system: str, folder: str, name: str, data: bytes) -> Path:
        """Drop a request file in an edge inbox the way a system does: write, then rename."""
        inbox = self.data_dir / city / system / folder / "inbox"
        inbox.mkdir(parents=True, exist_ok=True)
        partial = inbox / (name + ".part")
        partial.write_bytes(data)
        return partial.replace(inbox / name)

    def out(self, city: str, system: str, kind: str) -> list[Any]:
        """What a system wrote out for a kind (JSON files), oldest first."""
        folder = self.data_dir / city / system / "out" / kind
        paths = (
            sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime)
            if folder.is_dir()
            else []
        )
        return [json.loads(p.read_text()) for p in paths]

    def data_keys(self, city: str, system: SystemId = SystemId.HEALTH_MGMT) -> DataKeys:
        """A city system's data keys, which open what it stores encrypted (R48)."""
        return DataKeys.load(self.key_dir(system, city) / "data" / city, city)

    async def opened(
        self, city: str, table: SealedTable, sql: str, *args: object
    ) -> list[dict[str, Any]]:
        """Rows of `table` in a city's database, their encrypted columns opened."""
        keys = self.data_keys(city, SYSTEM_OF_SCHEMA[table.table.split(".")[0]])
        return [table.opened(keys, dict(row)) for row in await self.fetch(city, sql, *args)]

    async def person_of(self, city: str, resident_code: str) -> str | None:
        """The 団体内統合宛名番号 of the resident with a 住民票コード in a city, if any."""
        rows = await self.opened(city, RESIDENTS, "SELECT * FROM ims.residents")
        return next((r["person"] for r in rows if r["resident_code"] == resident_code), None)

    async def fetch(self, owner: str, sql: str, *args: object) -> list[asyncpg.Record]:
        connection = await asyncpg.connect(self.database_url(owner))
        try:
            return list(await connection.fetch(sql, *args))
        finally:
            await connection.close()

    async def exists(self, owner: str, sql: str, *args: object) -> bool:
        try:
            return bool(await self.fetch(owner, sql, *args))
        except (asyncpg.InvalidCatalogNameError, asyncpg.UndefinedTableError, OSError):
            return False

    async def approve(
        self,
        city: str,
        department: str,
        approver: str,
        *,
        reject: str | None = None,
        only: str | None = None,
    ) -> list[HeldRow]:
        """A 所属長 of `city` approves every reply held for `department` (or rejects it,
        with `reject` as the comment), or `only` the one of that id; the rows seen."""
        desk = await open_desk(self.services.settings(**(self.extra_env | self.desk_env)))
        terminal = Terminal("192.0.2.1", "e2e")  # the approver's terminal (R26/R27)
        try:
            await desk.add_staff(
                approver,
                roles=[Role.APPROVER],
                municipality=city,
                department=department,
                password=PASSWORD,
                terminals=["192.0.2.1/32"],
            )
            _, session = await desk.login(approver, PASSWORD, terminal)
            rows, _ = await desk.held_list(session)
            rows = [row for row in rows if only in (None, row.message_id)]
            for row in rows:
                await desk.show(session, row.message_id, terminal)
                if reject is None:
                    await desk.approve(session, row.message_id, terminal=terminal)
                else:
                    await desk.reject(session, row.message_id, terminal=terminal, comment=reject)
            return list(rows)
        finally:
            await desk.store.close()

    async def send_as(
        self,
        sender: tuple[SystemId, str | None],
        payload: Payload,
        *,
        to: tuple[SystemId, str],
        procedure: str,
        data_item: str,
        sent_at: datetime | None = None,
        declared: Declaration | None = None,
    ) -> Envelope:
        """Publish a payload signed with an adapter's own key and sealed to its recipient
        as that system would (declaring what it holds unless `declared` says otherwise),
        for the variants a well-behaved adapter never sends."""
        system, city = sender
        ring = KeyRing.load(self.services.ring_dir)
        keys = keys_for(ring, self.key_dir(system, city), system, city)
        envelope = keys.signer.sign(
            addressed_envelope(
                ring,
                payload=payload,
                declared=declared,
                secret=sealing_secret(keys.signer),
                municipality=city or to[1],
                sender=Party(system=system, instance="e2e-test"),
                recipient=Recipient(system=to[0], municipality=to[1]),
                procedure=procedure,
                data_items=(data_item,),
                key_id=keys.signer.key_id,
                sent_at=sent_at,
            )
        )
        await publish(self.services.amqp_url, [envelope.to_bytes()], routing_key=envelope.kind)
        return envelope

    async def decision(self, message_id: object) -> tuple[str, str | None] | None:
        """The hub's decision on a message: (decision, reason code), once journaled."""
        rows = await self.hub_rows(
            "SELECT decision, reason_code FROM journal WHERE message_id = $1", message_id
        )
        return (rows[0]["decision"], rows[0]["reason_code"]) if rows else None

    async def effects(self, owner: str, consumer: str) -> list[str]:
        """What an adapter recorded doing with its deliveries, in order."""
        rows = await self.fetch(
            owner, "SELECT effect FROM adapter_effects WHERE consumer = $1 ORDER BY seq", consumer
        )
        return [r["effect"] for r in rows]

    async def publish_signed(self, envelope: Envelope) -> None:
        """Publish an envelope a test built and signed, as its sender would."""
        await publish(self.services.amqp_url, [envelope.to_bytes()], routing_key=envelope.kind)

    async def held(self) -> bool:
        """True once a message waits for approval."""
        return bool(await self.hub_rows("SELECT 1 FROM held_messages WHERE state = 'held'"))

    async def hub_rows(self, sql: str, *args: object) -> list[asyncpg.Record]:
        connection = await asyncpg.connect(self.services.database_url)
        try:
            return list(await connection.fetch(sql, *args))
        finally:
            await connection.close()


def kiosk_url(stack: Stack, city: str) -> str:
    """The certificate center of a city."""
    return f"https://127.0.0.1:{stack.kiosk_port + CITIES.index(city)}"


def _copy_keys(source: Path, folder: Path) -> None:
    """A party's keys into its folder, private (0700, 0600), as stack.keys makes them."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for path in source.iterdir():
        target = folder / path.name
        target.write_bytes(path.read_bytes())
        target.chmod(0o600)
