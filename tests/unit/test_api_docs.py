"""The API documents in docs/api/ are what the code says (`make api-docs` writes them), name
every queue and route they should, and come out the same on any machine and environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any, cast

import pytest
from aio_pika.abc import AbstractChannel
from faststream.rabbit import RabbitBroker
from faststream.specification import AsyncAPI

from adapters.kit import Bridge
from adapters.kit.handlers import dispatch
from adapters.kit.stored import MemoryInbox
from contracts.broker import (
    ADAPTER_SYSTEMS,
    DEAD_EXCHANGE,
    DELIVER_EXCHANGE,
    INGRESS_EXCHANGE,
    INGRESS_QUEUE,
    KINDS_SENT,
    adapter_queue,
)
from contracts.codes import SystemId
from contracts.keys import KeyRing, generate_key
from contracts.signing import Signer
from hub.topology import declare
from stack.apidocs import (
    API_DIR,
    BROKER_URL,
    api_files,
    documentation_settings,
)

ROOT = Path(__file__).resolve().parents[2]
CITIES = documentation_settings().hub.municipalities
ENVELOPE = "#/components/schemas/Envelope"
# Set in the shell of whoever regenerates the documents: none of them may show.
STRAY = {
    "SESSHU_HUB__MUNICIPALITIES": "131016",
    "SESSHU_ADAPTERS__MUNICIPALITIES": "131016",
    "SESSHU_AMQP__URL": "amqp://someone:secret@10.9.8.7:5673/elsewhere",
    "SESSHU_TELEMETRY__TRACING": "true",
    "SESSHU_DESK__HTTP_PORT": "18080",
}


@cache
def generated() -> dict[str, str]:
    return api_files()


@cache
def asyncapi() -> dict[str, Any]:
    return cast(dict[str, Any], json.loads(generated()["asyncapi.json"]))


def channel(name: str) -> dict[str, Any]:
    channels: dict[str, Any] = asyncapi()["channels"]
    assert name in channels, f"no channel {name!r} in docs/api/asyncapi.json"
    return cast(dict[str, Any], channels[name])


def payload_ref(name: str) -> str:
    """The schema reference of the one message on channel `name`."""
    (message,) = channel(name)["messages"].values()
    key = message["$ref"].removeprefix("#/components/messages/")
    return cast(str, asyncapi()["components"]["messages"][key]["payload"]["$ref"])


@pytest.mark.parametrize("name", ["asyncapi.json", "openapi.json"])
def test_the_checked_in_document_is_up_to_date(name: str) -> None:
    path = API_DIR / name
    present = path.read_text(encoding="utf-8") if path.is_file() else None
    if present != generated()[name]:
        pytest.fail(f"docs/api/{name} is out of date: run make api-docs", pytrace=False)


def test_no_other_document_lies_in_docs_api() -> None:
    assert sorted(p.name for p in API_DIR.iterdir()) == sorted(generated())


@pytest.mark.parametrize("system", ADAPTER_SYSTEMS)
@pytest.mark.parametrize("city", CITIES)
def test_every_adapter_queue_is_a_channel_of_envelopes_bound_to_the_delivery_exchange(
    system: SystemId, city: str
) -> None:
    queue = adapter_queue(system, city)
    found = channel(f"{queue}:{DELIVER_EXCHANGE}")
    assert found["bindings"]["amqp"]["queue"]["name"] == queue
    assert found["address"] == f"{system}.{city}"
    assert payload_ref(f"{queue}:{DELIVER_EXCHANGE}") == ENVELOPE


@pytest.mark.parametrize("system", ADAPTER_SYSTEMS)
def test_every_kind_an_adapter_may_publish_is_a_channel_on_the_ingress_exchange(
    system: SystemId,
) -> None:
    for kind in KINDS_SENT[system]:
        name = f"{kind}:{INGRESS_EXCHANGE}:{system}"
        found = channel(name)
        assert found["address"] == kind
        assert found["bindings"]["amqp"]["exchange"]["name"] == INGRESS_EXCHANGE
        assert payload_ref(name) == ENVELOPE
        assert asyncapi()["operations"][name]["action"] == "send"


def test_the_hub_consumes_ingress_and_publishes_deliveries_and_dead_letters() -> None:
    ingress = f"{INGRESS_QUEUE}:{INGRESS_EXCHANGE}"
    assert channel(ingress)["bindings"]["amqp"]["queue"]["name"] == INGRESS_QUEUE
    assert asyncapi()["operations"][ingress]["action"] == "receive"
    assert payload_ref(ingress) == ENVELOPE
    for exchange in (DELIVER_EXCHANGE, DEAD_EXCHANGE):
        name = f"{exchange}:hub"
        assert channel(name)["bindings"]["amqp"]["exchange"]["name"] == exchange
        assert asyncapi()["operations"][name]["action"] == "send"
    assert payload_ref(f"{DELIVER_EXCHANGE}:hub") == ENVELOPE
    # A dead letter is the bytes received, which need not be an envelope at all.
    assert payload_ref(f"{DEAD_EXCHANGE}:hub") != ENVELOPE


class _Recording:
    """Enough of an aio-pika channel for `hub.topology.declare` to declare into."""

    def __init__(self) -> None:
        self.bindings: set[tuple[str, str, str]] = set()

    async def declare_exchange(self, name: str, *args: object, **kwargs: object) -> str:
        return name

    async def declare_queue(self, name: str, **kwargs: object) -> _Queue:
        return _Queue(name, self.bindings)


class _Queue:
    def __init__(self, name: str, bindings: set[tuple[str, str, str]]) -> None:
        self.name, self._bindings = name, bindings

    async def bind(self, exchange: str, routing_key: str) -> None:
        self._bindings.add((self.name, exchange, routing_key))


async def test_every_binding_the_hub_declares_is_documented() -> None:
    recording = _Recording()
    await declare(cast(AbstractChannel, recording), CITIES)
    documented = {
        (c["bindings"]["amqp"]["queue"]["name"], name.split(":")[1], c["address"])
        for name, c in asyncapi()["channels"].items()
        if c["bindings"]["amqp"]["is"] == "queue"
    }
    # hub.dead has no consumer (operators drain it): the dead-letter channel names it.
    undocumented = recording.bindings - documented - {("hub.dead", DEAD_EXCHANGE, "#")}
    assert not undocumented, f"declared by hub/topology.py, not in the AsyncAPI: {undocumented}"


def test_the_documented_adapter_queue_is_the_one_the_bridge_consumes() -> None:
    key = generate_key(SystemId.VRS, "082279", key_id="vrs-docs-1")
    broker = RabbitBroker(BROKER_URL, logger=None)
    bridge = Bridge(
        broker,
        SystemId.VRS,
        "082279",
        Signer(key.entry.key_id, key.signing),
        KeyRing([key.entry]),
        MemoryInbox(),
    )
    bridge.subscribe(dispatch({}))
    real = AsyncAPI(broker).to_specification().to_jsonable()
    (consumed,) = real["channels"].values()
    documented = channel(f"{adapter_queue(SystemId.VRS, '082279')}:{DELIVER_EXCHANGE}")
    assert documented["bindings"]["amqp"]["queue"] == consumed["bindings"]["amqp"]["queue"]


def test_the_openapi_document_has_the_desks_routes() -> None:
    paths = json.loads(generated()["openapi.json"])["paths"]
    expected = {
        "/api/session": {"get", "post", "delete"},
        "/api/held": {"get"},
        "/api/held/{message_id}": {"get"},
        "/api/held/{message_id}/approve": {"post"},
        "/api/held/{message_id}/reject": {"post"},
        "/api/held/{message_id}/reveal": {"post"},
        "/api/audit": {"get"},
        "/api/provision-records": {"get"},
        "/api/ops/overview": {"get"},
        "/api/ops/messages": {"get"},
        "/api/ops/redrive": {"post"},
        "/healthz": {"get"},
    }
    missing = {path: methods - set(paths.get(path, {})) for path, methods in expected.items()}
    assert not {path: methods for path, methods in missing.items() if methods}


def test_nothing_of_the_machine_or_its_environment_is_in_the_documents(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in STRAY.items():
        monkeypatch.setenv(name, value)
    assert api_files() == generated()
    for text in generated().values():
        for local in (str(ROOT), "127.0.0.1", "localhost", "10.9.8.7", "131016", "18080"):
            assert local not in text


def test_two_processes_with_stray_settings_write_the_same_documents(tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SESSHU_")}
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "stack.apidocs", str(tmp_path / str(seed))],
            cwd=tmp_path,  # not the checkout: nothing may depend on where it runs
            env={**base, **STRAY, "PYTHONHASHSEED": str(seed)},
            stdout=subprocess.DEVNULL,
        )
        for seed in (1, 2)
    ]
    assert [run.wait(timeout=60) for run in runs] == [0, 0]
    for name, text in generated().items():
        assert (tmp_path / "1" / name).read_text(encoding="utf-8") == text
        assert (tmp_path / "2" / name).read_text(encoding="utf-8") == text
    assert json.loads(generated()["asyncapi.json"])["asyncapi"] == "3.0.0"
