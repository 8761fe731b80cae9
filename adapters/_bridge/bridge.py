"""The adapter side of the hub: publish signed envelopes, consume deliveries once."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from faststream.middlewares import AckPolicy
from faststream.rabbit import (
    ExchangeType,
    QueueType,
    RabbitBroker,
    RabbitExchange,
    RabbitQueue,
)
from faststream.rabbit.annotations import RabbitMessage
from faststream.rabbit.schemas import Channel

from contracts.broker import INGRESS_EXCHANGE, adapter_queue
from contracts.codes import SystemId
from contracts.envelope import Envelope
from contracts.keys import KeyRing
from contracts.signing import Freshness, Signer, VerificationError, parse_and_verify
from hub.ports import AdapterInbox, InboxTransaction

__all__ = ["Bridge", "Handler", "make_broker", "publish_signed"]

log = logging.getLogger("sesshu.adapters.bridge")

Handler = Callable[[Envelope, InboxTransaction], Awaitable[None]]
"""Does the adapter's work for one delivery, inside the inbox transaction."""

# The hub checked freshness when the message arrived; a delivery may wait in the adapter's
# queue for as long as the adapter is down, so here only signature and binding count.
DELIVERY_FRESHNESS = Freshness(max_age=timedelta(days=3650), max_future=timedelta(days=1))
INGRESS = RabbitExchange(INGRESS_EXCHANGE, type=ExchangeType.TOPIC, durable=True)


def make_broker(url: str, *, prefetch: int = 100) -> RabbitBroker:
    """A FastStream broker whose publishes wait for confirms and raise when returned."""
    channel = Channel(prefetch_count=prefetch, publisher_confirms=True, on_return_raises=True)
    return RabbitBroker(url, default_channel=channel, logger=log)


async def publish_signed(
    broker: RabbitBroker, envelope: Envelope, *, confirm_within: float
) -> None:
    """Publish a signed envelope to the hub's ingress: persistent, mandatory, confirmed."""
    await broker.publish(
        envelope.to_bytes(),
        exchange=INGRESS,
        routing_key=envelope.kind,
        message_id=str(envelope.id),
        content_type="application/json",
        persist=True,
        mandatory=True,
        timeout=confirm_within,
    )


@dataclass
class Bridge:
    """One adapter instance for one system in one municipality."""

    broker: RabbitBroker
    system: SystemId
    municipality: str
    signer: Signer
    ring: KeyRing
    inbox: AdapterInbox
    publish_timeout: float = 10.0

    @property
    def consumer(self) -> str:
        """The name this adapter's dedupe rows are kept under."""
        return adapter_queue(self.system, self.municipality)

    async def publish(self, envelope: Envelope) -> Envelope:
        """Sign (if needed) and publish; returns the signed envelope once confirmed."""
        signed = envelope if envelope.signature else self.signer.sign(envelope)
        await publish_signed(self.broker, signed, confirm_within=self.publish_timeout)
        return signed

    def subscribe(self, handler: Handler) -> None:
        """Consume this adapter's queue; `handler` runs once per message id."""
        queue = RabbitQueue(self.consumer, queue_type=QueueType.QUORUM, durable=True)

        @self.broker.subscriber(queue, ack_policy=AckPolicy.MANUAL)
        async def _on_delivery(message: RabbitMessage) -> None:
            await self._deliver(message, handler)

    async def _deliver(self, message: RabbitMessage, handler: Handler) -> None:
        try:
            envelope, _ = parse_and_verify(
                message.body, self.ring, now=datetime.now(UTC), freshness=DELIVERY_FRESHNESS
            )
        except VerificationError as exc:
            # Only the hub publishes here and it verified first: this is tampering or a
            # misconfigured ring. Refuse it for good rather than loop on it.
            log.error("delivery refused by %s: %s", self.consumer, exc.code)
            await message.reject(requeue=False)
            return
        try:
            async with self.inbox.first_time(self.consumer, str(envelope.id)) as transaction:
                if transaction.fresh:
                    await handler(envelope, transaction)
        except Exception:
            log.exception("handler failed for message %s; requeued", envelope.id)
            await message.nack(requeue=True)
            return
        await message.ack()
