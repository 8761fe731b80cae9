"""Idempotent declaration of the hub's exchanges and quorum queues (names: contracts.broker)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel

from contracts.broker import (
    DEAD_EXCHANGE,
    DEAD_QUEUE,
    DELIVER_EXCHANGE,
    INGRESS_EXCHANGE,
    INGRESS_QUEUE,
    adapter_queue,
    destinations,
)

__all__ = ["INGRESS_DELIVERY_LIMIT", "declare"]

# A message that crashes the worker this many times is dead-lettered by RabbitMQ itself,
# so one poison message cannot stall the ingress queue.
INGRESS_DELIVERY_LIMIT = 50
_QUORUM: dict[str, Any] = {"x-queue-type": "quorum"}


async def declare(channel: AbstractChannel, municipalities: Iterable[str]) -> None:
    """Declare the whole topology; safe to run again with the same arguments."""
    topic = aio_pika.ExchangeType.TOPIC
    ingress = await channel.declare_exchange(INGRESS_EXCHANGE, topic, durable=True)
    deliver = await channel.declare_exchange(DELIVER_EXCHANGE, topic, durable=True)
    dead = await channel.declare_exchange(DEAD_EXCHANGE, topic, durable=True)
    queue = await channel.declare_queue(
        INGRESS_QUEUE,
        durable=True,
        arguments={
            **_QUORUM,
            "x-delivery-limit": INGRESS_DELIVERY_LIMIT,
            "x-dead-letter-exchange": DEAD_EXCHANGE,
            "x-dead-letter-routing-key": "delivery_limit",
        },
    )
    await queue.bind(ingress, "#")
    dead_queue = await channel.declare_queue(DEAD_QUEUE, durable=True, arguments=_QUORUM)
    await dead_queue.bind(dead, "#")
    for key in sorted(destinations(municipalities)):
        system, municipality = key.split(".")
        adapter = await channel.declare_queue(
            adapter_queue(system, municipality), durable=True, arguments=_QUORUM
        )
        await adapter.bind(deliver, key)
