"""`sesshu stack demo` (`make demo`): the whole stack and a realistic day, live.

Starts the hub, the desk, the network and both cities' adapters as processes against the
local RabbitMQ (vhost `sesshu_stack_demo`) and PostgreSQL (`sesshu_stack_demo`, and the adapters'
`sesshu_stack_demo_adapters_*`), all made fresh; then the simulators play a day (`stack/day.py`)
while a summary shows, live, what the hub carried per flow and decision, what waits for a
所属長, and where to open the approval page. On a terminal it runs until Ctrl-C, which
stops every process cleanly; elsewhere it stops once the day is done.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from adapters.store.db import AdapterDb
from adapters.store.intermediate import PgLinkage
from contracts.codes import InternalPersonNumber
from hub.approvals import Role
from hub.desk import open_desk
from hub.settings import Settings
from hub.store.postgres import PgStore
from stack.day import FLOWS, Day
from stack.keys import CARD_AUTHORITY_PARTY, SHC_ISSUER_PARTY, shc_issuer
from stack.launch import DEFAULT_METRICS_PORT, party_envs
from stack.processes import Processes, stack_commands
from stack.provision import Place, environment
from stack.terminals import terminal_tokens

__all__ = ["run_demo"]

CITIES = ("082279", "082074")
APPROVER = "kacho.yuki"
TERMINALS = ("127.0.0.1/32", "::1/128")
"""Where the demo's approver may sign in from: this machine (R26/R27)."""
# Its own vhost and databases, apart from `sesshu demo`'s: each run starts them afresh.
VHOST = "sesshu_stack_demo"


@dataclass
class Demo:
    """The demo's processes, settings and files."""

    base: Settings
    directory: Path
    lines: list[str] = field(default_factory=list)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))

    def __post_init__(self) -> None:
        self.place = Place(
            VHOST,
            self.base.amqp.url.get_secret_value(),
            self.base.database.url.get_secret_value(),
        )
        self.key_root = self.directory / "keys" / "parties"
        # The desk and the kiosks serve HTTPS with `sesshu tls init`'s certificates.
        self.tls_dir = self.base.tls.dir.resolve()
        self.envs: dict[str, dict[str, str]] = {}
        self.env = environment(
            self.place,
            self.directory / "keys" / "ring",
            SESSHU_ADAPTERS__DATA_DIR=str(self.directory / "adapters"),
            SESSHU_ADAPTERS__MUNICIPALITIES=",".join(CITIES),
            SESSHU_ADAPTERS__KIOSK_ENROLLED=CITIES[0],
            SESSHU_ADAPTERS__POLL_INTERVAL_SECONDS="0.5",
            SESSHU_HUB__MUNICIPALITIES=",".join(CITIES),
            SESSHU_DESK__HTTP_PORT=str(self.base.desk.http_port),
            SESSHU_ADAPTERS__KIOSK_HTTP_PORT=str(self.base.adapters.kiosk_http_port),
            # Start-up, shutdown, reconnects, each hold and refusal: var/demo/logs/.
            SESSHU_LOG_LEVEL="INFO",
        )
        self.processes = Processes(self.env, self.directory / "logs")

    @property
    def desk_url(self) -> str:
        return f"https://{self.base.desk.http_host}:{self.base.desk.http_port}/"

    def kiosk_url(self, city: str) -> str:
        return f"https://127.0.0.1:{self.base.adapters.kiosk_http_port + CITIES.index(city)}"

    async def fresh(self) -> None:
        """Empty databases, folders and queues, and keys for everyone."""
        for name in ("adapters", "keys", "logs", "rosters", "terminals"):
            await asyncio.to_thread(shutil.rmtree, self.directory / name, ignore_errors=True)
        await self.place.make(fresh=True)
        self.envs = await party_envs(
            self.place,
            self.key_root,
            self.directory / "keys" / "ring",
            CITIES,
            tls_dir=self.tls_dir,
            metrics_port=DEFAULT_METRICS_PORT,
            roster_dir=self.directory / "rosters",
            terminal_dir=self.directory / "terminals",
        )
        desk = self.envs["desk"]  # what the demo's own desk calls need, as the desk's
        for name in ("SESSHU_DESK__REVIEW_KEY_DIR", "SESSHU_SIGNING__HUB_KEY_FILE"):
            self.env[name] = desk[name]

    def start(self) -> None:
        """The hub, the desk, the network and each city's adapters."""
        self.processes.start_all(stack_commands(CITIES), self.envs)

    def stop(self, grace: float = 0.0) -> dict[str, int]:
        """SIGTERM every process that still runs after `grace` seconds (a terminal's
        Ctrl-C reached them all already); their exit codes."""
        return self.processes.stop(grace=grace)

    async def approver(self) -> None:
        """A 所属長 of Yuki's health-promotion section, to approve on the page."""
        settings = self.loaded()
        desk = await open_desk(settings)
        try:
            await desk.add_staff(
                APPROVER,
                roles=[Role.APPROVER],
                municipality=CITIES[1],
                department="health-promotion",
                password=self.password,
                terminals=TERMINALS,
                actor="demo",
            )
        finally:
            await desk.store.close()

    async def code_of(self, city: str, person: str) -> str | None:
        """A resident's 符号 at a city, read from that city's intermediate server."""
        db = await AdapterDb.open(self.place.database(f"adapters_{city}"), size=1)
        try:
            code = await PgLinkage(db).code_for(city, InternalPersonNumber(person))
        finally:
            await db.close()
        return None if code is None else str(code)

    def loaded(self) -> Settings:
        """The settings the processes run with."""
        saved = dict(os.environ)
        try:
            os.environ.clear()
            os.environ.update(self.env)
            return Settings()
        finally:
            os.environ.clear()
            os.environ.update(saved)

    async def summary(self, store: PgStore) -> Group:
        """What the hub carried, per flow and decision, and what waits for approval."""
        counts: dict[str, dict[str, int]] = {}
        for kind, decision, reason, n in await store.journal_by_kind():
            label = decision if not reason else f"{decision}:{reason}"
            counts.setdefault(kind, {})[label] = n
        table = Table(title="Sesshu Hub: what crossed the hub", expand=False)
        for column in ("flow", "message kind", "delivered", "held", "rejected"):
            table.add_column(
                column, justify="right" if column in ("delivered", "held", "rejected") else "left"
            )
        for flow, kind in FLOWS:
            seen = counts.get(kind, {})
            rejected = sum(v for k, v in seen.items() if k.startswith("reject"))
            held = sum(v for k, v in seen.items() if k.startswith("hold"))
            table.add_row(flow, kind, str(seen.get("deliver", 0)), str(held), str(rejected))
        waiting = [row for city in CITIES for row in await store.held(city)]
        notes = [Text(line) for line in self.lines[-8:]]
        notes.append(Text(f"held for a 所属長: {len(waiting)}", style="bold"))
        notes += [Text(f"  {h.message_id} for {h.routing_key} ({h.reason_code})") for h in waiting]
        notes.append(
            Text(f"approval page: {self.desk_url}  user {APPROVER}  password {self.password}")
        )
        kiosk = f"{self.kiosk_url(CITIES[0])}/applications"
        notes.append(Text(f"kiosk (Chikusei): {kiosk}  edges: {self.directory / 'adapters'}"))
        return Group(table, *notes)


async def run_demo(
    base: Settings, directory: Path, interactive: bool, echo: Callable[[str], None]
) -> int:
    """The demo; the number of surprises (0 when all went as expected)."""
    demo = Demo(base, await asyncio.to_thread(directory.resolve))
    await demo.fresh()
    demo.start()
    store: PgStore | None = None
    try:
        store = await _store(demo)
        await demo.approver()
        day = Day(
            data_dir=directory / "adapters",
            key_dir=demo.key_root / CARD_AUTHORITY_PARTY,
            kiosk_url=demo.kiosk_url,
            ca_file=demo.tls_dir / "ca.pem",
            token_dir=terminal_tokens(demo.key_root),
            store=store,
            code_of=demo.code_of,
            issuer=shc_issuer(base.adapters.shc_issuer_url, None, demo.key_root / SHC_ISSUER_PARTY),
            out=directory,
            say=demo.lines.append,
        )
        surprises = await _live(demo, day, store, interactive, echo)
    finally:
        if store is not None:
            await store.close()
        codes = await asyncio.to_thread(demo.stop, 30.0 if interactive else 0.0)
    echo("stopped: " + ", ".join(f"{name} {code}" for name, code in codes.items()))
    return surprises + sum(1 for code in codes.values() if code != 0)


async def _store(demo: Demo) -> PgStore:
    dsn = demo.place.database_url
    for _ in range(120):  # the hub creates and migrates the database as it starts
        try:
            store = await PgStore.connect(dsn, size=2)
            await store.journal_count()
            return store
        except Exception:
            await asyncio.sleep(0.5)
    raise RuntimeError("the hub's database did not come up; see var/demo/logs/hub.log")


async def _live(
    demo: Demo, day: Day, store: PgStore, interactive: bool, echo: Callable[[str], None]
) -> int:
    playing = asyncio.create_task(day.run())
    console = Console()
    if not interactive:
        await playing
        await asyncio.sleep(2)  # the last replies settle
        console.print(await demo.summary(store))
        return sum(1 for line in demo.lines if line.startswith("(still waiting"))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    # "visible": a terminal too short for the summary scrolls instead of hiding its end.
    with Live(
        await demo.summary(store),
        console=console,
        refresh_per_second=2,
        vertical_overflow="visible",
    ) as live:
        while not stop.is_set():
            live.update(await demo.summary(store))
            if playing.done() and demo.lines[-1:] != ["(Ctrl-C stops everything)"]:
                demo.lines.append("(Ctrl-C stops everything)")
            await asyncio.sleep(1)
    if not playing.done():
        playing.cancel()
    echo("stopping ...")
    return 0
