"""Every metric the processes export, in one place, and `/metrics` for each process.

The metrics of each role live in their own registry, so a process exports what it does and
nothing it only imports: the hub worker `HUB` (and the decisions of the holds it expires),
the desk `DESK`, an adapter `ADAPTERS` (with FastStream's own middleware metrics). Every
process also exports `sesshu_build_info` and the client library's process and Python
collectors.

Labels take values from bounded sets only (`LABELS` says which labels exist): a kind, a
decision, a reason code, a system, a municipality, a department, a route template. Never an
id, a person, a user or a value from a payload: `bounded` turns anything outside a closed
set into "other" before it becomes a label, and the end-to-end test scrapes every process
and fails on any label outside `LABELS`.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable, Iterator
from importlib.metadata import PackageNotFoundError, version
from typing import Final, Literal, get_args

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    start_http_server,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

__all__ = [
    "ADAPTERS",
    "ADAPTER_EVENTS",
    "BUILD",
    "DESK",
    "HUB",
    "LABELS",
    "OTHER",
    "ROW_OUTCOMES",
    "Adapter",
    "AdapterEvent",
    "Desk",
    "Hub",
    "RowOutcome",
    "bounded",
    "exported",
    "serve",
]

OTHER: Final = "other"
"""The label value of anything outside the closed set a label takes."""

# Every label any process may export, with what it holds. The scrape test fails on others.
LABELS: Final[dict[str, str]] = {
    "kind": "a message kind (contracts.payloads.MessageKind) or 'unknown'",
    "decision": "delivered, held, rejected, duplicate",
    "reason": "a reason code the hub or desk wrote (routing or verification code) or 'none'",
    "exchange": "sesshu.deliver or sesshu.dead",
    "outcome": "a closed set per metric (confirmed, nacked, returned, failed; approved, ...)",
    "stage": "committed or confirmed",
    "system": "a system id (contracts.codes.SystemId)",
    "municipality": "a configured municipality code",
    "department": "a department code of the desk's staff",
    "route": "an HTTP route template (/api/held/{message_id}), never a path",
    "method": "an HTTP method",
    "status": "an HTTP status code, or FastStream's handler status",
    "event": "what an adapter's system did (ADAPTER_EVENTS)",
    "version": "the package's version",
    "python": "the interpreter's version",
    # FastStream's Prometheus middleware (adapters)
    "app_name": "FastStream's application name (the adapter's party)",
    "broker": "rabbit",
    "handler": "the adapter's own queue (adapter.<system>.<code>)",
    "destination": "the exchange an adapter publishes to",
    "exception_type": "an exception class name",
    # prometheus_client's own collectors
    "le": "histogram bucket",
    "generation": "garbage-collector generation",
    "implementation": "Python implementation",
    "major": "Python version part",
    "minor": "Python version part",
    "patchlevel": "Python version part",
}

BUILD = CollectorRegistry(auto_describe=True)
HUB = CollectorRegistry(auto_describe=True)
DESK = CollectorRegistry(auto_describe=True)
ADAPTERS = CollectorRegistry(auto_describe=True)


def bounded(value: str | None, allowed: Iterable[str], *, none: str = "none") -> str:
    """`value` if it is one of `allowed`, `none` for None, else OTHER: a label value that
    cannot grow with what a sender writes."""
    if value is None:
        return none
    return value if value in allowed else OTHER


def _version() -> str:
    try:
        return version("sesshu-hub")
    except PackageNotFoundError:  # a checkout run without installing
        return "0+unknown"


Info("sesshu_build", "the running build", registry=BUILD).info(
    {"version": _version(), "python": platform.python_version()}
)

# Buckets of a message's way through one process: a millisecond to ten seconds.
_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Buckets of a person's decision: a minute to a week.
_HOUR, _DAY = 3600.0, 86400.0
_WAIT = (60.0, 300.0, 900.0, _HOUR, 4 * _HOUR, 12 * _HOUR, _DAY, 2 * _DAY, 3 * _DAY, 7 * _DAY)


class Hub:
    """The hub worker's metrics (registry HUB), read as `Hub.received`."""

    received = Counter(
        "sesshu_messages_received", "messages taken from hub.ingress", ["kind"], registry=HUB
    )
    processed = Counter(
        "sesshu_messages_processed",
        "messages decided: delivered, held, rejected, or a duplicate of one journaled",
        ["kind", "decision", "reason"],
        registry=HUB,
    )
    latency = Histogram(
        "sesshu_processing_seconds",
        "from a message's arrival at the worker to its journal commit (stage=committed) and "
        "to the broker's confirm of its publish (stage=confirmed); exemplars carry trace ids",
        ["stage"],
        buckets=_LATENCY,
        registry=HUB,
    )
    published = Counter(
        "sesshu_messages_published",
        "outbox publishes by exchange and outcome (confirmed, nacked, returned, failed)",
        ["exchange", "outcome"],
        registry=HUB,
    )
    relayed = Counter(
        "sesshu_outbox_relayed", "outbox rows published by the relay (orphans)", registry=HUB
    )
    outbox_depth = Gauge(
        "sesshu_outbox_depth", "outbox rows not yet published (all workers)", registry=HUB
    )
    outbox_oldest = Gauge(
        "sesshu_outbox_oldest_unpublished_seconds",
        "age of the oldest unpublished outbox row, 0 when none waits",
        registry=HUB,
    )
    batches = Counter("sesshu_batches", "batches journaled", registry=HUB)
    batch_size = Histogram(
        "sesshu_batch_size",
        "messages per batch",
        buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
        registry=HUB,
    )
    broker_connected = Gauge(
        "sesshu_broker_connected", "1 while the worker's broker connection is open", registry=HUB
    )
    reconnects = Counter(
        "sesshu_broker_reconnects", "broker connections re-established", registry=HUB
    )
    database_up = Gauge(
        "sesshu_database_up", "1 while the journal's database answers", registry=HUB
    )
    pool_in_use = Gauge(
        "sesshu_db_pool_in_use", "database connections in use by this process", registry=HUB
    )
    pool_size = Gauge("sesshu_db_pool_size", "database connections open", registry=HUB)
    expired = Counter(
        "sesshu_held_expired",
        "held messages this worker expired (the sender was told)",
        ["municipality"],
        registry=HUB,
    )


class Desk:
    """The approval desk's metrics (registry DESK). Every one has a label, so a process
    that imports the desk without serving it exports none of them."""

    held = Gauge(
        "sesshu_held_messages",
        "messages waiting for a decision",
        ["municipality", "department", "reason"],
        registry=DESK,
    )
    oldest_held = Gauge(
        "sesshu_held_oldest_timestamp_seconds",
        "when the oldest message still held was held (Unix time)",
        ["municipality"],
        registry=DESK,
    )
    decisions = Counter(
        "sesshu_desk_decisions",
        "decisions on held messages by outcome (approved, rejected)",
        ["outcome"],
        registry=DESK,
    )
    wait = Histogram(
        "sesshu_desk_decision_wait_seconds",
        "from a message's hold to its decision",
        ["outcome"],
        buckets=_WAIT,
        registry=DESK,
    )
    logins = Counter(
        "sesshu_desk_logins",
        "log-ins by outcome (ok, failed, locked_out)",
        ["outcome"],
        registry=DESK,
    )
    requests = Counter(
        "sesshu_http_requests",
        "HTTP requests by route template, method and status",
        ["route", "method", "status"],
        registry=DESK,
    )
    request_seconds = Histogram(
        "sesshu_http_request_seconds",
        "HTTP request duration by route template",
        ["route"],
        buckets=_LATENCY,
        registry=DESK,
    )


AdapterEvent = Literal[
    "inquiry_sent",
    "inquiry_answered",
    "permit_issued",
    "permit_refused",
    "provision_sent",
    "provision_refused",
    "fukuhon_registered",
    "fukuhon_refused",
    "transfer_requested",
    "transfer_provided",
    "transfer_answered",
    "certificate_issued",
    "certificate_refused",
]
"""What a system did, as `Adapter.events` counts it: by the system that did it, once done
(in a delivery, once its transaction commits: a redelivery after a rollback counts nothing
twice). Health management acts only on the rows of its files, which `Adapter.rows` counts.

    intermediate  inquiry_sent        the asker sent an inquiry, with its permit (F6)
                  inquiry_answered    the asker handed health management its result
                                      (provided, no data, withheld or refused, R37)
                  provision_sent      the provider answered from its 副本 (F7)
                  provision_refused   it answered none: no permit, or the permit or its
                                      list copy did not allow it (R35, R36)
                  fukuhon_registered  a 副本 stored or deleted (F4)
                  fukuhon_refused     a 副本 registration failed its format check (R45)
    nws           permit_issued       a permit issued for an inquiry (R30)
                  permit_refused      none: the list does not allow the inquiry
    vrs           transfer_requested  the new city asked a resident's former city (F14)
                  transfer_provided   the former city answered with its records (F15)
                  transfer_answered   the new city took the former city's answer in
                  certificate_issued  a certificate issued and sent to the center (F19)
                  certificate_refused none: the card did not check out, or no record (F18)
    kiosk         certificate_issued  the center handed one to the terminal that applied
                  certificate_refused it handed none: the card refused (R06-R10), or none
                                      came from VRS in time
"""
ADAPTER_EVENTS: Final = frozenset(get_args(AdapterEvent))
RowOutcome = Literal["imported", "refused"]
"""A row an edge read from a request file: taken in, or refused (reported in its result
file with line, field and reason)."""
ROW_OUTCOMES: Final = frozenset(get_args(RowOutcome))


class Adapter:
    """What each system's adapter counts (registry ADAPTERS), beside FastStream's own."""

    published = Counter(
        "sesshu_adapter_published",
        "envelopes an adapter published to the hub, by kind",
        ["system", "municipality", "kind"],
        registry=ADAPTERS,
    )
    deliveries = Counter(
        "sesshu_adapter_deliveries",
        "deliveries by outcome (handled, duplicate, refused, failed, waits)",
        ["system", "municipality", "outcome"],
        registry=ADAPTERS,
    )
    rows = Counter(
        "sesshu_adapter_rows",
        "rows an edge read from a request file, by outcome (imported, refused)",
        ["system", "municipality", "outcome"],
        registry=ADAPTERS,
    )
    events = Counter(
        "sesshu_adapter_events",
        "what a system did: inquiries sent and answered, permits, provisions, fukuhon "
        "registrations, transfers, certificates (ADAPTER_EVENTS)",
        ["system", "municipality", "event"],
        registry=ADAPTERS,
    )


class _Merged(Collector):
    """Several registries served as one."""

    def __init__(self, registries: Iterable[CollectorRegistry]) -> None:
        self._registries = tuple(registries)

    def collect(self) -> Iterator[Metric]:
        for registry in self._registries:
            yield from registry.collect()


def exported(*registries: CollectorRegistry) -> CollectorRegistry:
    """One registry holding `registries`, the build info and the process collectors."""
    merged = CollectorRegistry(auto_describe=False)
    merged.register(_Merged((REGISTRY, BUILD, *registries)))
    return merged


def serve(host: str, port: int | None, *registries: CollectorRegistry) -> int | None:
    """Serve `/metrics` of `registries` on host:port in a thread; the port bound (0 picks
    a free one), None when metrics are off (port None)."""
    if port is None:
        return None
    server, _ = start_http_server(port, host, registry=exported(*registries))
    return int(server.server_port)
