"""One process per city hosting its systems' adapters, and one for the network.

Each adapter has its own key and its own queue; a city's adapters share one broker
connection and the city's adapter database. Each system's bridge side consumes its queue;
its edge (the folders, the certificate center's HTTP face) runs here as a timed job or a
server. A stop event ends the edge loops, then the broker (which lets the handler in
progress finish) and the database.
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
from adapters.kit.bridge import Bridge, Broker, make_broker
from adapters.kit.handlers import dispatch
from adapters.kit.permits import NetworkList
from adapters.nws.bridge import Network
from adapters.nws.edge import PortalEdge, PortalNotices
from adapters.store.atrest import DataKeys
from adapters.store.db import AdapterDb
from adapters.store.intermediate import PgFukuhon, PgLinkage
from adapters.store.systems import PgIntermediateBook, PgNetworkBook, PgResidents, PgVrsBook
from adapters.vrs.bridge import Vrs
from adapters.vrs.edge import VrsEdge
from contracts.codes import SystemId
from contracts.keys import KeyRing
from contracts.wire import WireLimits
from hub.settings import Settings
from stack.data_keys import city_data_keys
from stack.keys import card_authority, keys_for, sealing_keys, secret, shc_issuer
from stack.network_list import network_list
from stack.prune import STACK_ACTOR, prune_systems

__all__ = ["run_city", "run_network"]

log = logging.getLogger("sesshu.stack")


@dataclass
class _City:
    """One city's four systems, wired to its keys, database and folders, and their edges."""

    health: HealthMgmt
    server: IntermediateServer
    vrs: Vrs
    center: CertificateCenter
    health_edge: HealthMgmtEdge
    vrs_edge: VrsEdge
    retention: Retention


def _wire_city(
    settings: Settings, city: str, db: AdapterDb, broker: Broker, data_keys: DataKeys
) -> _City:
    ring = KeyRing.load(settings.signing.ring_dir)
    key_dir, root = settings.adapters.key_dir, settings.adapters.data_dir / city
    opening = sealing_keys(key_dir)

    def bridge(system: SystemId) -> Bridge:
        signer = keys_for(ring, key_dir, system, city).signer
        return Bridge(
            broker,
            system,
            city,
            signer,
            ring,
            db,
            settings.amqp.publish_timeout_seconds,
            WireLimits(max_bytes=settings.hub.max_message_bytes),
            settings.signing.ring_dir,
            opening,
        )

    authority = card_authority(key_dir).public_key()
    issuer = shc_issuer(settings.adapters.shc_issuer_url, settings.adapters.shc_key_file, key_dir)
    book, keep = PgIntermediateBook(db), timedelta(hours=settings.adapters.result_retention_hours)
    health = HealthMgmt(
        bridge(SystemId.HEALTH_MGMT), PgResidents(db, data_keys), OutFolder(root / "health_mgmt")
    )
    server = IntermediateServer(
        bridge(SystemId.INTERMEDIATE),
        PgLinkage(db),
        PgFukuhon(db),
        book,
        keep,
        secret(key_dir, f"linkage-{city}"),
    )
    vrs = Vrs(
        bridge(SystemId.VRS),
        PgVrsBook(db, data_keys),
        issuer,
        city not in settings.adapters.consent_not_required,
        authority,
    )
    center = CertificateCenter(
        bridge(SystemId.KIOSK),
        authority,
        settings.adapters.kiosk_enrolled,
        settings.adapters.certificate_wait_seconds,
    )
    city_systems = _City(
        health,
        server,
        vrs,
        center,
        HealthMgmtEdge(health, root / "health_mgmt").prepare(),
        VrsEdge(vrs, root / "vrs").prepare(),
        Retention(book, keep),
    )
    for system in (city_systems.health, city_systems.server, city_systems.vrs, city_systems.center):
        system.bridge.subscribe(dispatch(system.handlers()))
    return city_systems


async def run_city(settings: Settings, city: str, stop: asyncio.Event) -> None:
    """The city's health management, intermediate server, VRS and certificate center, until
    `stop`: their deliveries, their edge folders, and the center's HTTP face. Without the
    city's data key (R48) it stops before it opens anything (DataKeyError)."""
    data_keys = city_data_keys(settings, city)
    db = await AdapterDb.open(settings.adapters.database_for(city))
    broker = make_broker(settings.amqp.url.get_secret_value(), prefetch=50)
    try:
        systems = _wire_city(settings, city, db, broker, data_keys)
        await _start(broker)
        web = _HostedServer(_http_config(kiosk_app(systems.center), settings, city))
        serving = asyncio.create_task(web.serve())
        log.info("adapters of %s running", city)
        interval = settings.adapters.poll_interval_seconds
        prune: Callable[[], Awaitable[object]] = functools.partial(
            prune_systems,
            db,
            settings.adapters.data_dir / city / "health_mgmt",
            settings,
            dry_run=False,
            actor=STACK_ACTOR,
        )
        jobs = [
            (systems.health_edge.poll, interval),
            (systems.vrs_edge.poll, interval),
            (systems.retention.purge, 60.0),
            (prune, settings.retention.interval_seconds),
        ]
        try:
            await _until(stop, jobs, watch=serving)
        finally:
            web.should_exit = True
            await serving
    finally:
        await broker.stop()
        await db.close()


def _http_config(app: object, settings: Settings, city: str) -> uvicorn.Config:
    # One port per city, in the order of the configured cities.
    cities = list(settings.adapters.municipalities)
    offset = cities.index(city) if city in cities else len(cities)
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=settings.adapters.kiosk_http_host,
        port=settings.adapters.kiosk_http_port + offset,
        log_level="warning",
        lifespan="off",
    )


class _HostedServer(uvicorn.Server):
    """uvicorn inside the host's event loop: the host, not uvicorn, owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def run_network(settings: Settings, stop: asyncio.Event) -> None:
    """The network, serving every city's queue, until `stop`."""
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
