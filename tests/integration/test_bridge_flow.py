"""Two adapters talking through the hub over the real broker, and a publish nobody routes."""

from __future__ import annotations

import asyncio
from typing import Any

import aio_pika
import asyncpg
import pytest

from adapters.kit import Bridge, make_broker
from adapters.kit.bridge import Broker
from adapters.kit.handlers import dispatch
from adapters.ports import InboxTransaction
from adapters.store.db import AdapterDb
from contracts.broker import INGRESS_EXCHANGE
from contracts.codes import SystemId
from contracts.envelope import Declaration, Envelope, Party, Recipient
from contracts.examples import example_payload
from contracts.payloads import SealedPayload
from hub.errors import BrokerUnavailable
from tests.harness import CHIKUSEI, HubProcess, Services
from tests.probes import topology_ready, wait_for

pytestmark = pytest.mark.integration


def flag_for_vrs(services: Services, **changes: Any) -> Envelope:
    fields: dict[str, Any] = {
        "municipality": CHIKUSEI,
        "sender": Party(system="health_mgmt", instance="ims-1"),
        "recipient": Recipient(system="vrs", municipality=CHIKUSEI),
        "procedure": "S19-16",
        "data_items": ("covid.resident_status",),
        "key_id": f"health_mgmt-{CHIKUSEI}-t",
    }
    return services.envelope(example_payload("resident_status_flag"), **(fields | changes))


def city_bridge(services: Services, broker: Broker, store: AdapterDb, system: SystemId) -> Bridge:
    """`system` of Chikusei, with its own signing and sealing keys."""
    return Bridge(
        broker,
        system,
        CHIKUSEI,
        services.signer(system, CHIKUSEI),
        services.ring(),
        store,
        sealing_keys=services.sealing_keys,
    )


async def test_health_management_to_vrs_through_the_hub(services: Services) -> None:
    hub = HubProcess(services).start()
    store = await AdapterDb.open(services.adapters_database_url)
    try:
        await wait_for(lambda: topology_ready(services), 30, "the hub's topology")
        broker = make_broker(services.amqp_url)
        ims = city_bridge(services, broker, store, SystemId.HEALTH_MGMT)
        vrs = city_bridge(services, broker, store, SystemId.VRS)
        received: list[Envelope] = []

        async def handle(envelope: Envelope, transaction: InboxTransaction) -> None:
            received.append(envelope)
            await transaction.record_effect("flag stored")

        vrs.subscribe(handle)
        async with broker:
            await broker.start()
            sent = await ims.publish(flag_for_vrs(services))
            await ims.publish(sent)  # the same message again: the hub dedupes it

            async def arrived() -> bool:
                return len(received) >= 1

            await wait_for(arrived, 30, "the flag at VRS")
            await asyncio.sleep(1)
        # VRS got it once, opened: the hub carried only ciphertext.
        assert [envelope.id for envelope in received] == [sent.id]
        assert isinstance(sent.payload, SealedPayload)
        assert received[0].payload == example_payload("resident_status_flag")
    finally:
        await store.close()
        assert hub.stop() == 0, hub.log()


async def test_a_publish_no_queue_takes_is_an_error_not_a_silent_drop(services: Services) -> None:
    connection = await aio_pika.connect(services.amqp_url)
    async with connection:
        channel = await connection.channel()
        await channel.declare_exchange(INGRESS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
    store = await AdapterDb.open(services.adapters_database_url)
    broker = make_broker(services.amqp_url)
    ims = Bridge(
        broker,
        SystemId.HEALTH_MGMT,
        CHIKUSEI,
        services.signer(SystemId.HEALTH_MGMT, CHIKUSEI),
        services.ring(),
        store,
        publish_timeout=5,
    )
    try:
        async with broker:
            await broker.start()
            # Unroutable (mandatory) is refused, and the adapter keeps what it was sending.
            with pytest.raises(BrokerUnavailable) as refused:
                await ims.publish(flag_for_vrs(services))
            assert isinstance(refused.value.__cause__, aio_pika.exceptions.PublishError)
    finally:
        await store.close()


async def test_a_delivery_its_recipient_refuses_is_journaled_there_and_its_sender_told(
    services: Services,
) -> None:
    # The hub routes on the declaration (it cannot open the payload); VRS opens it, finds a
    # purpose the flag does not have, refuses it and tells health management, through the
    # hub, which records the refusal.
    hub = HubProcess(services).start()
    store = await AdapterDb.open(services.adapters_database_url)
    try:
        await wait_for(lambda: topology_ready(services), 30, "the hub's topology")
        broker = make_broker(services.amqp_url)
        ims = city_bridge(services, broker, store, SystemId.HEALTH_MGMT)
        vrs = city_bridge(services, broker, store, SystemId.VRS)
        handled: list[Envelope] = []

        async def handle(envelope: Envelope, transaction: InboxTransaction) -> None:
            handled.append(envelope)

        vrs.subscribe(dispatch({"resident_status_flag": handle}))
        ims.subscribe(dispatch({}))
        lying = Declaration(my_number=False, purpose="certificate")
        async with broker:
            await broker.start()
            sent = await ims.publish(flag_for_vrs(services, declared=lying))

            async def told() -> bool:
                return bool(await _effects(store, "adapter.health_mgmt.082279"))

            await wait_for(told, 30, "the refusal back at health management")
        assert handled == []
        assert await _effects(store, "adapter.vrs.082279") == ["refused:declaration_mismatch"]
        assert await _effects(store, "adapter.health_mgmt.082279") == [
            "refused_by_recipient:declaration_mismatch"
        ]
        # The hub journaled both, the flag delivered on its declaration, the refusal too.
        connection = await asyncpg.connect(services.database_url)
        try:
            rows = await connection.fetch(
                "SELECT kind, decision, causation_id FROM journal ORDER BY seq"
            )
        finally:
            await connection.close()
        assert [(r["kind"], r["decision"]) for r in rows] == [
            ("resident_status_flag", "deliver"),
            ("delivery_refusal", "deliver"),
        ]
        assert str(rows[1]["causation_id"]) == str(sent.id)
    finally:
        await store.close()
        assert hub.stop() == 0, hub.log()


async def _effects(store: AdapterDb, consumer: str) -> list[str]:
    rows = await store.fetch(
        "SELECT effect FROM adapter_effects WHERE consumer = $1 ORDER BY seq", consumer
    )
    return [row["effect"] for row in rows]
