"""One process per system of each city, and one for the network.

Each is a party of its own (`stack.parties`): its own key folder, checked before anything
opens (`hub.custody`), its own broker user and database role (given in its URLs), its own
queue. Its bridge side consumes the queue; its edge (the folders, the certificate center's
HTTP face) runs here as a timed job or a server. A stop event ends the edge loops, then the
broker (which lets the handler in progress finish) and the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import uvicorn

from adapters.health_mgmt.bridge import HealthMgmt
from adapters.health_mgmt.edge import HealthMgmtEdge, OutFolder
from adapters.intermediate.bridge import IntermediateServer
from adapters.intermediate.retention import Retention
from adapters.kiosk.bridge import CertificateCenter
from adapters.kiosk.edge import kiosk_app
from adapters.kiosk.terminals import TerminalFile
from adapters.kit.acts import RosterFile
from adapters.kit.bridge import Bridge, Broker, make_broker
from adapters.kit.handlers import dispatch
from adapters.kit.permits import NetworkList
from adapters.kit.shc import IssuingBody
from adapters.nws.bridge import Network
from adapters.nws.edge import PortalEdge, PortalNotices
from adapters.store.db import AdapterDb
from adapters.store.intermediate import PgFukuhon, PgLinkage
from adapters.store.retention import DOSES, RECORDS
from adapters.store.systems import (
    PgActLog,
    PgApplicationLog,
    PgIntermediateBook,
    PgNetworkBook,
    PgResidents,
    PgVrsBook,
)
from adapters.vrs.bridge import Vrs
from adapters.vrs.edge import VrsEdge
from contracts.codes import SystemId
from contracts.keys import KeyRing
from contracts.wire import WireLimits
from hub.settings import Settings
from hub.settings.fields import items_for
from hub.settings.tls import PlaintextRefused
from stack.data_keys import city_data_keys
from stack.keys import (
    card_authority_public,
    keys_for,
    sealing_keys,
    secret,
    shc_issuer,
)
from stack.network_list import network_list
from stack.parties import Party
from stack.prune import STACK_ACTOR, prune_systems

__all__ = ["run_network", "run_system"]

log = logging.getLogger("sesshu.stack")


Job = tuple[Callable[[], Awaitable[object]], float]


@dataclass
class _System:
    """One system of one city, wired to its own keys, database role and folders: what it
    consumes, the jobs of its edge, and the HTTP face it serves, if any."""

    system: HealthMgmt | IntermediateServer | Vrs | CertificateCenter
    jobs: list[Job]
    app: object | None = None


def roster_for(settings: Settings, city: str) -> RosterFile:
    """The city's roster file, which its health-management and VRS edges check."""
    return RosterFile(settings.adapters.roster_dir / f"{city}.toml")


def issuing_body(settings: Settings, city: str) -> IssuingBody:
    """The name a city's certificates give as their issuer; a city without one is a
    configuration error, said before its VRS starts."""
    named = settings.adapters.municipality_names.get(city)
    if named is None:
        raise ValueError(
            f"adapters.municipality_names: no name for city {city}; "
            "its certificates must name their issuing body"
        )
    return IssuingBody(named.japanese, named.english)


def _wire(
    settings: Settings, party: Party, ring: KeyRing, db: AdapterDb, broker: Broker
) -> _System:
    city, key_dir = str(party.municipality), settings.adapters.key_dir
    root = settings.adapters.data_dir / city
    bridge = Bridge(
        broker,
        party.system,
        city,
        keys_for(ring, key_dir, party.system, city).signer,
        ring,
        db,
        settings.amqp.publish_timeout_seconds,
        WireLimits(max_bytes=settings.hub.max_message_bytes),
        settings.signing.ring_dir,
        sealing_keys(key_dir),
    )
    interval = settings.adapters.poll_interval_seconds
    every = settings.retention.interval_seconds
    prune = functools.partial(
        prune_systems, db, settings=settings, dry_run=False, actor=STACK_ACTOR
    )
    if party.system is SystemId.HEALTH_MGMT:
        keys = city_data_keys(settings, city)
        health = HealthMgmt(bridge, PgResidents(db, keys), OutFolder(root / "health_mgmt"))
        edge = HealthMgmtEdge(
            health, root / "health_mgmt", roster_for(settings, city), PgActLog(db, "ims")
        ).prepare()
        doses = functools.partial(prune, root / "health_mgmt", kinds=(DOSES,))
        return _System(health, [(edge.poll, interval), (doses, every)])
    if party.system is SystemId.INTERMEDIATE:
        book = PgIntermediateBook(db)
        keep = timedelta(hours=settings.adapters.result_retention_hours)
        linkage = secret(key_dir, f"linkage-{city}")
        server = IntermediateServer(
            bridge,
            PgLinkage(db),
            PgFukuhon(db),
            book,
            keep,
            linkage,
            items_for(settings.adapters.nondisclosed_items, city),
        )
        records = functools.partial(prune, None, kinds=(RECORDS,))
        return _System(server, [(Retention(book, keep).purge, 60.0), (records, every)])
    authority = card_authority_public(key_dir)
    if party.system is SystemId.VRS:
        issuer = shc_issuer(
            settings.adapters.shc_issuer_url, settings.adapters.shc_key_file, key_dir
        )
        consent = city not in settings.adapters.consent_not_required
        vrs = Vrs(
            bridge,
            PgVrsBook(db, city_data_keys(settings, city)),
            issuer,
            consent,
            authority,
            issuing_body(settings, city),
            timedelta(seconds=settings.adapters.certificate_wait_seconds),
        )
        vrs_edge = VrsEdge(vrs, root / "vrs", roster_for(settings, city), PgActLog(db, "vrs"))
        return _System(vrs, [(vrs_edge.prepare().poll, interval)])
    center = CertificateCenter(
        bridge,
        authority,
        settings.adapters.kiosk_enrolled,
        roster_for(settings, city),
        PgApplicationLog(db),
        settings.adapters.certificate_wait_seconds,
    )
    terminals = TerminalFile(settings.adapters.terminal_dir / f"{city}.toml")
    return _System(center, [], kiosk_app(center, terminals, issuing_body(settings, city)))


async def run_system(settings: Settings, party: Party, stop: asyncio.Event) -> None:
    """One system of one city until `stop`: its deliveries, its edge's jobs and, for the
    certificate center, its HTTP face. `sesshu stack city` has checked, before this runs,
    that its key folder is its own alone (hub.custody) and, for a system that stores
    personal data, that the city's data key is there (R48)."""
    ring = KeyRing.load(settings.signing.ring_dir)
    db = await AdapterDb.open(settings.adapters.database_for(str(party.municipality)))
    broker = make_broker(settings.amqp.url.get_secret_value(), prefetch=50)
    try:
        wired = _wire(settings, party, ring, db, broker)
        wired.system.bridge.subscribe(dispatch(wired.system.handlers()))
        await _start(broker)
        log.info("%s running", party.name)
        if wired.app is None:
            await _until(stop, wired.jobs)
            return
        web = _HostedServer(_http_config(wired.app, settings, str(party.municipality)))
        serving = asyncio.create_task(web.serve())
        try:
            await _until(stop, wired.jobs, watch=serving)
        finally:
            web.should_exit = True
            await serving
    finally:
        await broker.stop()
        await db.close()


def _http_config(app: object, settings: Settings, city: str) -> uvicorn.Config:
    # One port per city, in the order of the configured cities.
    if settings.tls.kiosk_cert_file is None and not settings.tls.allow_plaintext:
        # Terminals' tokens and typed My Numbers cross this link: never in the clear.
        raise PlaintextRefused(
            "tls.kiosk_cert_file: the certificate center serves HTTPS only; "
            "run `sesshu tls init` and set it (or tls.allow_plaintext, development only)"
        )
    cities = list(settings.adapters.municipalities)
    offset = cities.index(city) if city in cities else len(cities)
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=settings.adapters.kiosk_http_host,
        port=settings.adapters.kiosk_http_port + offset,
        log_level="warning",
        lifespan="off",
        # HTTPS where the certificate center's files are set (`sesshu tls init` makes them).
        ssl_certfile=settings.tls.kiosk_cert_file,
        ssl_keyfile=settings.tls.kiosk_key_file,
    )


class _HostedServer(uvicorn.Server):
    """uvicorn inside the host's event loop: the host, not uvicorn, owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def run_network(settings: Settings, stop: asyncio.Event) -> None:
    """The network, serving every city's queue, until `stop` (its key folder checked by
    `sesshu stack network` first)."""
    ring = KeyRing.load(settings.signing.ring_dir)
    db = await AdapterDb.open(settings.adapters.database_for("nws"))
    broker = make_broker(settings.amqp.url.get_secret_value(), prefetch=50)
    keys = keys_for(ring, settings.adapters.key_dir, SystemId.NWS, None)
    the_list: NetworkList = network_list(settings.routing.directory())
    bridges = {
        city: Bridge(
            broker,
            SystemId.NWS,
            city,
            keys.signer,
            ring,
            db,
            settings.amqp.publish_timeout_seconds,
            WireLimits(max_bytes=settings.hub.max_message_bytes),
            settings.signing.ring_dir,
            sealing_keys(settings.adapters.key_dir),
        )
        for city in settings.adapters.municipalities
    }
    individual_key = secret(settings.adapters.key_dir, "nws-individuals")
    portal = settings.adapters.data_dir / "nws" / "portal"
    networks = {
        city: Network(
            bridge,
            PgNetworkBook(db),
            the_list,
            individual_key,
            PortalNotices(portal),
            bridges.__getitem__,
        )
        for city, bridge in bridges.items()
    }
    for city, network in networks.items():
        bridges[city].subscribe(dispatch(network.handlers()))
    # Any instance answers the portal: each row goes out on the instance of its city.
    portal_edge = PortalEdge(next(iter(networks.values())), portal).prepare()
    try:
        await _start(broker)
        for city, network in networks.items():
            await _retrying(functools.partial(network.distribute, city))
        log.info("network running for %s", ", ".join(bridges))
        await _until(stop, [(portal_edge.poll, settings.adapters.poll_interval_seconds)])
    finally:
        await broker.stop()
        await db.close()


async def _start(broker: Broker) -> None:
    # The hub declares the topology; until it has, the queues are not there to consume.
    await _retrying(broker.start, "the broker")


async def _retrying(act: Callable[[], Awaitable[object]], what: str = "the hub") -> None:
    # Until the hub has declared its exchanges and queues, RabbitMQ refuses both consuming
    # from an adapter queue and publishing to the ingress exchange.
    for attempt in range(60):
        try:
            await act()
            return
        except Exception as exc:
            log.warning("%s not ready (%s); retrying", what, type(exc).__name__)
            await asyncio.sleep(min(0.5 * (attempt + 1), 5.0))
    raise RuntimeError(f"{what} did not become ready")


async def _until(
    stop: asyncio.Event,
    jobs: Sequence[tuple[Callable[[], Awaitable[object]], float]],
    watch: asyncio.Task[None] | None = None,
) -> None:
    """Run the jobs until `stop`, or until `watch` (a server) ends by itself, which is an
    error: its port taken, say."""
    tasks = [asyncio.create_task(_every(job, interval, stop)) for job, interval in jobs]
    stopped = asyncio.ensure_future(stop.wait())
    waits: set[asyncio.Future[Any]] = {stopped} if watch is None else {stopped, watch}
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        if watch is not None and watch.done() and not stop.is_set():
            raise RuntimeError("the certificate center's HTTP server stopped (port in use?)")
    finally:
        stopped.cancel()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _every(
    job: Callable[[], Awaitable[object]], interval: float, stop: asyncio.Event
) -> None:
    while not stop.is_set():
        try:
            await job()
        except Exception:
            log.exception("edge job failed; trying again")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
