"""Two adapters talking through the hub over the real broker, and a publish nobody routes."""

from __future__ import annotations

import asyncio

import aio_pika
import pytest

from adapters.kit import Bridge, make_broker
from adapters.ports import InboxTransaction
from adapters.store.db import AdapterDb
from contracts.broker import INGRESS_EXCHANGE
from contracts.codes import SystemId
from contracts.envelope import Envelope, Party, Recipient
from contracts.examples import example_payload
from hub.errors import BrokerUnavailable
from tests.harness import CHIKUSEI, HubProcess, Services
from tests.probes import topology_ready, wait_for

pytestmark = pytest.mark.integration


def flag_for_vrs() -> Envelope:
    return Envelope.new(
        payload=example_payload("resident_status_flag"),
        municipality=CHIKUSEI,
        sender=Party(system="health_mgmt", instance="ims-1"),
        recipient=Recipient(system="vrs", municipality=CHIKUSEI),
        procedure="S19-16",
        data_items=("covid.resident_status",),
        key_id=f"health_mgmt-{CHIKUSEI}-t",
    )


async def test_health_management_to_vrs_through_the_hub(services: Services) -> None:
    hub = HubProcess(services).start()
    store = await AdapterDb.open(services.adapters_database_url)
    try:
        await wait_for(lambda: topology_ready(services), 30, "the hub's topology")
        broker = make_broker(services.amqp_url)
        ims = Bridge(
            broker,
            SystemId.HEALTH_MGMT,
            CHIKUSEI,
            services.signer(SystemId.HEALTH_MGMT, CHIKUSEI),
            services.ring(),
            store,
        )
        vrs = Bridge(
            broker,
            SystemId.VRS,
            CHIKUSEI,
            services.signer(SystemId.VRS, CHIKUSEI),
            services.ring(),
            store,
        )
        received: list[Envelope] = []

        async def handle(envelope: Envelope, transaction: InboxTransaction) -> None:
            received.append(envelope)
            await transaction.record_effect("flag stored")

        vrs.subscribe(handle)
        async with broker:
            await broker.start()
            sent = await ims.publish(flag_for_vrs())
            await ims.publish(sent)  # the same message again: the hub dedupes it

            async def arrived() -> bool:
                return len(received) >= 1

            await wait_for(arrived, 30, "the flag at VRS")
            await asyncio.sleep(1)
        assert received == [sent]
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
                await ims.publish(flag_for_vrs())
            assert isinstance(refused.value.__cause__, aio_pika.exceptions.PublishError)
    finally:
        await store.close()
