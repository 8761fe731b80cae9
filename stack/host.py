"""One process per city hosting its systems' adapters, and one for the network.

Each adapter has its own key and its own queue; a city's adapters share one broker
connection and the city's adapter database. A stop event ends the edge loops, then the
broker (which lets the handler in progress finish) and the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta

import uvicorn

from adapters._bridge import folders
from adapters._bridge.bridge import Bridge, dispatch, make_broker
from adapters.health_mgmt.bridge import HealthMgmt
from adapters.intermediate.bridge import IntermediateServer
from adapters.kiosk.bridge import CertificateCenter
from adapters.kiosk.edge import kiosk_app
from adapters.nws.bridge import Network
from adapters.nws.permits import NetworkList
from adapters.vrs.bridge import Vrs
from contracts.codes import SystemId
from contracts.keys import KeyRing
from hub.settings import Settings
from hub.store.adapter_db import AdapterDb
from hub.store.intermediate import PgFukuhon, PgLinkage
from hub.store.systems import PgIntermediateBook, PgNetworkBook, PgResidents, PgVrsBook
from stack.keys import card_authority, keys_for, shc_issuer
from stack.network_list import network_list

__all__ = ["run_city", "run_network"]

log = logging.getLogger("sesshu.stack")


async def run_city(settings: Settings, city: str, stop: asyncio.Event) -> None:
    """The city's health-management system and intermediate server, until `stop`."""
    ring = KeyRing.load(settings.signing.ring_dir)
    db = await AdapterDb.open(settings.adapters.database_for(city))
    broker = make_broker(settings.amqp.url.get_secret_value(), prefetch=50)
    root = settings.adapters.data_dir / city

    def bridge(system: SystemId) -> tuple[Bridge, Bridge]:
        keys = keys_for(ring, settings.adapters.key_dir, system, city)
        made = Bridge(
            broker, system, city, keys.signer, ring, db, settings.amqp.publish_timeout_seconds
        )
        return made, made

    health_bridge, _ = bridge(SystemId.HEALTH_MGMT)
    health = HealthMgmt(health_bridge, PgResidents(db), root / "health_mgmt").prepare()
    health_bridge.subscribe(dispatch(health.handlers()))
    server_keys = keys_for(ring, settings.adapters.key_dir, SystemId.INTERMEDIATE, city)
    server_bridge, _ = bridge(SystemId.INTERMEDIATE)
    server = IntermediateServer(
        server_bridge,
        PgLinkage(db),
        PgFukuhon(db),
        PgIntermediateBook(db),
        server_keys.sealing,
        timedelta(hours=settings.adapters.result_retention_hours),
    )
    server_bridge.subscribe(dispatch(server.handlers()))
    authority = card_authority(settings.adapters.key_dir).public_key()
    vrs_bridge, _ = bridge(SystemId.VRS)
    vrs = Vrs(
        vrs_bridge,
        PgVrsBook(db),
        shc_issuer(
            settings.adapters.shc_issuer_url,
            settings.adapters.shc_key_file,
            settings.adapters.key_dir,
        ),
        root / "vrs",
        city not in settings.adapters.consent_not_required,
        authority,
    ).prepare()
    vrs_bridge.subscribe(dispatch(vrs.handlers()))
    kiosk_bridge, _ = bridge(SystemId.KIOSK)
    center = CertificateCenter(kiosk_bridge, authority, settings.adapters.kiosk_enrolled)
    kiosk_bridge.subscribe(dispatch(center.handlers()))
    interval = settings.adapters.poll_interval_seconds
    try:
        await _start(broker)
        web = _HostedServer(_http_config(kiosk_app(center), settings, city))
        serving = asyncio.create_task(web.serve())
        log.info("adapters of %s running", city)
        try:
            await _until(
                stop, [(health.poll, interval), (vrs.poll, interval), (server.purge, 60.0)]
            )
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
        )
        for city in settings.adapters.municipalities
    }
    individual_key = hashlib.sha256(
        b"sesshu nws individuals" + keys.sealing.private_bytes_raw()
    ).digest()
    networks = {
        city: Network(
            bridge,
            PgNetworkBook(db),
            the_list,
            individual_key,
            settings.adapters.data_dir / "nws" / "portal",
            bridges.__getitem__,
        )
        for city, bridge in bridges.items()
    }
    for city, network in networks.items():
        bridges[city].subscribe(dispatch(network.handlers()))
    portal = settings.adapters.data_dir / "nws" / "portal"
    folders.prepare(portal, ("requests",))
    first = next(iter(networks.values()))

    async def serve_portal() -> int:
        return await folders.serve(portal, {"requests": first.self_requests})

    try:
        await _start(broker)
        for city, network in networks.items():
            await _retrying(functools.partial(network.distribute, city))
        log.info("network running for %s", ", ".join(bridges))
        await _until(stop, [(serve_portal, settings.adapters.poll_interval_seconds)])
    finally:
        await broker.stop()
        await db.close()


async def _start(broker: object) -> None:
    # The hub declares the topology; until it has, the queues are not there to consume.
    for attempt in range(60):
        try:
            await broker.start()  # type: ignore[attr-defined]
            return
        except Exception as exc:
            log.warning("broker not ready (%s); retrying", type(exc).__name__)
            await asyncio.sleep(min(0.5 * (attempt + 1), 5.0))
    raise RuntimeError("the broker did not become ready")


async def _retrying(send: Callable[[], Awaitable[object]]) -> None:
    # Until the hub has declared the ingress exchange, a publish to it is refused.
    for attempt in range(60):
        try:
            await send()
            return
        except Exception as exc:
            log.warning("publish refused (%s); retrying", type(exc).__name__)
            await asyncio.sleep(min(0.5 * (attempt + 1), 5.0))
    raise RuntimeError("the hub's ingress exchange did not appear")


async def _until(
    stop: asyncio.Event, jobs: list[tuple[Callable[[], Awaitable[object]], float]]
) -> None:
    tasks = [asyncio.create_task(_every(job, interval, stop)) for job, interval in jobs]
    try:
        await stop.wait()
    finally:
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
