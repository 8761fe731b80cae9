"""The API documents under docs/api/, generated from the code: the AsyncAPI document of
every channel and message on the broker, and the approval desk's OpenAPI document.

`python -m stack.apidocs` (or `make api-docs`) writes them; `tests/unit/test_api_docs.py`
fails when the files differ from what the code says, so they never fall behind.

- `asyncapi.json`: FastStream's AsyncAPI 3.0 document of documentation-only brokers, one
  per party (the hub and each adapter system), whose handlers never run. The hub consumes
  with aio-pika, not FastStream; an adapter's bridge reads the raw message (it checks the
  signature over the bytes before it parses them) and publishes with `broker.publish`,
  not a publisher object, so FastStream would see an empty payload and no publishes. The
  names come from `contracts.broker`, as the topology's do, and a test checks the queue
  declared here against the one `Bridge.subscribe` consumes. Adapter queues are shown for
  the default cities (`SESSHU_HUB__MUNICIPALITIES` adds one queue per system per city).
- `openapi.json`: the desk's FastAPI application's own `.openapi()`, the application built
  from the settings' defaults (no environment read) and never started.

Both are JSON with sorted keys and nothing of the machine that made them.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from faststream.rabbit import ExchangeType, QueueType, RabbitBroker, RabbitExchange, RabbitQueue
from faststream.specification import AsyncAPI
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from adapters.kit.bridge import INGRESS
from contracts.broker import (
    ADAPTER_SYSTEMS,
    DEAD_EXCHANGE,
    DEAD_QUEUE,
    DELIVER_EXCHANGE,
    HEADER_KIND,
    HEADER_REASON,
    HEADER_REASON_CODE,
    INGRESS_EXCHANGE,
    INGRESS_QUEUE,
    KINDS_SENT,
    adapter_queue,
)
from contracts.codes import SystemId
from contracts.envelope import SCHEMA_VERSION, Envelope
from hub.settings import Settings, TelemetrySettings
from hub.topology import INGRESS_DELIVERY_LIMIT
from hub.web.app import create_app

__all__ = [
    "API_DIR",
    "BROKER_URL",
    "api_files",
    "asyncapi_document",
    "documentation_settings",
    "openapi_document",
    "write_api_docs",
]

API_DIR = Path(__file__).resolve().parents[1] / "docs" / "api"
BROKER_URL = "amqps://rabbitmq.example:5671/"
"""The server the document names: a placeholder, never the configured SESSHU_AMQP__URL."""
_SERVER = "RabbitMQ of one place (SESSHU_AMQP__URL); each party has a user of its own"
_DELIVER = RabbitExchange(DELIVER_EXCHANGE, type=ExchangeType.TOPIC, durable=True, declare=False)
_DEAD = RabbitExchange(DEAD_EXCHANGE, type=ExchangeType.TOPIC, durable=True, declare=False)
_TRACEPARENT = "W3C `traceparent` in the AMQP headers where tracing is on"


class _Defaults(Settings):
    """The settings' defaults alone: no SESSHU_* variable, no secrets folder."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def documentation_settings() -> Settings:
    """The settings the documents are made under: the defaults, whatever the environment
    says, with tracing off (building the desk then instruments nothing)."""
    return _Defaults(telemetry=TelemetrySettings(tracing=False))


def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI document of the hub's channels and every adapter's."""
    cities = documentation_settings().hub.municipalities
    brokers = [_hub_broker(), *(_adapter_broker(system, cities) for system in ADAPTER_SYSTEMS)]
    spec = AsyncAPI(
        *brokers,
        title="Sesshu Hub",
        version=str(SCHEMA_VERSION),
        description="Signed envelopes between the systems of each city and the network, "
        "through the hub: each system publishes to sesshu.ingress under the kind as routing "
        "key; the hub journals and routes, then delivers on sesshu.deliver to one queue per "
        "system and city, or dead-letters on sesshu.dead. Version: the envelope's "
        "schema_version (contracts/schema/envelope.json).",
    )
    # An overwritten channel would vanish from the document without a word.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        document: dict[str, Any] = spec.to_specification().to_jsonable()
    return document


def openapi_document() -> dict[str, Any]:
    """The desk's OpenAPI document (its application built, not started)."""
    return create_app(documentation_settings()).openapi()


def _broker() -> RabbitBroker:
    # Never connected: every broker names the same placeholder server, so there is one.
    return RabbitBroker(BROKER_URL, description=_SERVER, logger=None)


def _never_run(channel: str) -> Callable[[Envelope], Awaitable[None]]:
    """A documentation handler: its signature gives the payload, its body never runs."""

    async def handler(envelope: Envelope) -> None:
        raise RuntimeError(f"{channel}: a documentation broker handles nothing")

    return handler


def _hub_broker() -> RabbitBroker:
    """The hub worker's channels (hub/worker.py, hub/outbox.py, hub/topology.py)."""
    broker = _broker()
    ingress = RabbitQueue(
        INGRESS_QUEUE, QueueType.QUORUM, durable=True, routing_key="#", declare=False
    )
    title = f"{INGRESS_QUEUE}:{INGRESS_EXCHANGE}"
    broker.subscriber(
        ingress,
        INGRESS,
        title=title,
        description="The hub worker consumes every kind from every system here, in batches "
        f"(hub/worker.py); a message that crashes the worker {INGRESS_DELIVERY_LIMIT} times "
        f"RabbitMQ dead-letters to {DEAD_EXCHANGE} under `delivery_limit`.",
    )(_never_run(title))
    _hub_publishers(broker)
    return broker


def _hub_publishers(broker: RabbitBroker) -> None:
    """What the hub's outbox publishes: deliveries and dead letters."""
    broker.publisher(
        exchange=_DELIVER,
        title=f"{DELIVER_EXCHANGE}:hub",
        description="The hub delivers a verified envelope as it came, under the routing key "
        "`<system>.<municipality>` of its recipient (one adapter queue each), header "
        f"`{HEADER_KIND}` its kind, {_TRACEPARENT}; the desk's releases and the hub's own "
        "attestations and notices go out here too, through the same outbox.",
        schema=Envelope,
        persist=True,
        mandatory=True,
    )
    broker.publisher(
        exchange=_DEAD,
        title=f"{DEAD_EXCHANGE}:hub",
        description="The hub dead-letters what it refused, under the reason code as routing "
        f"key (header `{HEADER_REASON_CODE}`, the reason in `{HEADER_REASON}`), to queue "
        f"`{DEAD_QUEUE}`. The body is the bytes received, which need not be an envelope (a "
        "too_large one is cut at hub.max_message_bytes).",
        schema=bytes,
        persist=True,
        mandatory=True,
    )


def _adapter_broker(system: SystemId, cities: tuple[str, ...]) -> RabbitBroker:
    """One system's channels (adapters/kit/bridge.py): its queue in each city, and each
    kind it may publish (`contracts.broker.KINDS_SENT`, its topic permissions)."""
    broker = _broker()
    for city in cities:
        queue = adapter_queue(system, city)
        binding = RabbitQueue(
            queue, QueueType.QUORUM, durable=True, routing_key=f"{system}.{city}", declare=False
        )
        broker.subscriber(
            binding,
            _DELIVER,
            title=f"{queue}:{DELIVER_EXCHANGE}",
            description=f"The {system} adapter of {city} consumes what the hub delivers to "
            "it, verifying the signature before it parses and handling each message id once "
            "(its inbox); acked manually.",
        )(_never_run(queue))
    for kind in sorted(KINDS_SENT[system]):
        broker.publisher(
            exchange=INGRESS,
            routing_key=kind,
            title=f"{kind}:{INGRESS_EXCHANGE}:{system}",
            description=f"The {system} adapter publishes a signed `{kind}` envelope to the "
            f"hub, message id the envelope's id, {_TRACEPARENT}; confirmed.",
            schema=Envelope,
            persist=True,
            mandatory=True,
        )
    return broker


def _text(document: dict[str, Any]) -> str:
    """A document as it is checked in: JSON, indent 2, keys sorted, a final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def api_files() -> dict[str, str]:
    """{file name under API_DIR: text} for both documents."""
    return {"asyncapi.json": _text(asyncapi_document()), "openapi.json": _text(openapi_document())}


def write_api_docs(directory: Path = API_DIR) -> list[Path]:
    """Write both documents under `directory`; the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in api_files().items():
        path = directory / name
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_api_docs(Path(sys.argv[1]) if len(sys.argv) > 1 else API_DIR):
        print(f"wrote {path}")
