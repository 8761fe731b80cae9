"""The baseline: a plain aio-pika one-hop forwarder (`python -m bench.forwarder`).

It does what the hub does on the broker side and nothing else: consume a quorum queue with
the hub's prefetch, republish each message with publisher confirms and `mandatory` to a
topic exchange that routes to quorum queues, ack the input after the confirm. No
verification, no database. Like the hub worker it uses one connection with a consuming
channel and a confirming publishing channel.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import Iterable
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractIncomingMessage

__all__ = ["PLAIN_INGRESS_EXCHANGE", "PLAIN_INGRESS_QUEUE", "declare_plain", "plain_queue"]

log = logging.getLogger("sesshu.bench.forwarder")

PLAIN_INGRESS_EXCHANGE = "bench.plain.ingress"
PLAIN_INGRESS_QUEUE = "bench.plain.in"
PLAIN_DELIVER_EXCHANGE = "bench.plain.deliver"
_QUORUM: dict[str, Any] = {"x-queue-type": "quorum"}


def plain_queue(destination: str) -> str:
    """The forwarder's output queue for a delivery key such as `vrs.082279`."""
    return f"bench.plain.{destination}"


async def declare_plain(channel: AbstractChannel, destinations: Iterable[str]) -> None:
    """Declare the forwarder's exchanges and quorum queues; safe to run again."""
    topic = aio_pika.ExchangeType.TOPIC
    ingress = await channel.declare_exchange(PLAIN_INGRESS_EXCHANGE, topic, durable=True)
    deliver = await channel.declare_exchange(PLAIN_DELIVER_EXCHANGE, topic, durable=True)
    queue = await channel.declare_queue(PLAIN_INGRESS_QUEUE, durable=True, arguments=_QUORUM)
    await queue.bind(ingress, "#")
    for key in sorted(destinations):
        output = await channel.declare_queue(plain_queue(key), durable=True, arguments=_QUORUM)
        await output.bind(deliver, key)


async def forward(url: str, prefetch: int, destinations: list[str], stop: asyncio.Event) -> None:
    """Forward until `stop` is set; each message keeps its routing key, id and headers."""
    connection = await aio_pika.connect_robust(url)
    async with connection:
        consume = await connection.channel(publisher_confirms=False)
        await consume.set_qos(prefetch_count=prefetch)
        publish = await connection.channel(publisher_confirms=True, on_return_raises=True)
        await declare_plain(publish, destinations)
        exchange = await publish.get_exchange(PLAIN_DELIVER_EXCHANGE)
        queue = await consume.get_queue(PLAIN_INGRESS_QUEUE)

        async def on_message(message: AbstractIncomingMessage) -> None:
            await _forward_one(exchange, message)

        # aiormq runs each delivery's callback in its own task, so up to `prefetch`
        # publishes wait for their confirms concurrently, as the hub's batch publish does.
        tag = await queue.consume(on_message)
        await stop.wait()
        await queue.cancel(tag)


async def _forward_one(exchange: AbstractExchange, message: AbstractIncomingMessage) -> None:
    outgoing = aio_pika.Message(
        message.body,
        headers=message.headers,
        message_id=message.message_id,
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )
    try:
        await exchange.publish(
            outgoing, routing_key=message.routing_key or "", mandatory=True, timeout=10
        )
    except Exception as exc:  # any failure: give the message back and go on
        log.warning("forward failed (%s); requeued", type(exc).__name__)
        await message.nack(requeue=True)
        return
    await message.ack()


async def _main(url: str, prefetch: int, destinations: list[str]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await forward(url, prefetch, destinations, stop)


def main() -> None:
    """Command line: `python -m bench.forwarder --url URL --prefetch N --destination KEY...`."""
    parser = argparse.ArgumentParser(description="The plain one-hop forwarder baseline.")
    parser.add_argument("--url", required=True, help="AMQP URL of the vhost")
    parser.add_argument("--prefetch", type=int, required=True, help="unacked deliveries")
    parser.add_argument(
        "--destination", action="append", required=True, help="delivery key with a queue"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_main(args.url, args.prefetch, args.destination))


if __name__ == "__main__":
    main()
