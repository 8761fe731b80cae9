"""The adapter side of the hub: publish signed envelopes, consume deliveries once.

`Bridge` is one system's link over FastStream: it signs and publishes to the hub's
ingress (confirmed, mandatory), sealing every payload that identifies a person to its
recipient, and consumes its own queue, each delivery checked first (`deliveries`), opened
and checked against its declaration (`sealed`), and handled once inside the inbox's
transaction; a delivery refused once opened is recorded and its sender told (a
`delivery_refusal`). What the handlers are made of is in `handlers`.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args
from uuid import UUID

from aiormq.exceptions import AMQPError
from faststream.middlewares import AckPolicy
from faststream.rabbit import (
    ExchangeType,
    QueueType,
    RabbitBroker,
    RabbitExchange,
    RabbitQueue,
)
from faststream.rabbit.annotations import RabbitMessage
from faststream.rabbit.prometheus import RabbitPrometheusMiddleware
from faststream.rabbit.schemas import Channel
from faststream.security import BaseSecurity
from opentelemetry.trace import SpanKind

from adapters.kit.deliveries import RingRereads, verified
from adapters.kit.handlers import Handler, NotYet, reply_id
from adapters.kit.sealed import Refusal, SealingKeys, addressed, delivered
from adapters.ports import AdapterInbox, InboxTransaction
from contracts.broker import INGRESS_EXCHANGE, adapter_queue
from contracts.codes import SystemId
from contracts.envelope import Declaration, Envelope, Party, Recipient, new_message_id
from contracts.keys import KeyRing
from contracts.payloads import DeliveryRefusal, MessageKind, Payload, ReviewCopy, SealedPayload
from contracts.sealing import sealed_review, sealing_secret
from contracts.signing import Signer, UnknownKey, VerificationError
from contracts.wire import WireLimits
from hub.errors import BrokerUnavailable, Retryable
from observability import tracing
from observability.metrics import ADAPTERS, Adapter, bounded

__all__ = ["Bridge", "Broker", "make_broker", "publish_signed"]

log = logging.getLogger("sesshu.adapters.bridge")

Broker = RabbitBroker
"""The broker connection adapters share (so the wiring need not import FastStream)."""
RETRY_PAUSE = 1.0
# A refused, returned or unconfirmed publish; the caller keeps what it was sending.
PUBLISH_FAILURES = (AMQPError, TimeoutError, ConnectionError, RuntimeError)
# The hub declares the topology; an adapter's user may configure nothing (R15), so it only
# checks that the exchange and its queue are there (a passive declaration).
# A label and span attribute take a kind from the contract's list, nothing else.
KINDS = frozenset(get_args(MessageKind))
INGRESS = RabbitExchange(INGRESS_EXCHANGE, type=ExchangeType.TOPIC, durable=True, declare=False)


def make_broker(
    url: str, *, prefetch: int = 100, ssl_context: ssl.SSLContext | None = None
) -> RabbitBroker:
    """A FastStream broker whose publishes wait for confirms and raise when returned; over
    TLS verified by `ssl_context` (`hub.tls.amqp_ssl_context`) where given, else by what an
    `amqps://` URL names (`cafile=`)."""
    channel = Channel(prefetch_count=prefetch, publisher_confirms=True, on_return_raises=True)
    security = None if ssl_context is None else BaseSecurity(ssl_context=ssl_context)
    return RabbitBroker(
        url,
        default_channel=channel,
        logger=log,
        security=security,
        middlewares=[RabbitPrometheusMiddleware(registry=ADAPTERS, app_name="sesshu-adapter")],
    )


async def publish_signed(
    broker: RabbitBroker, envelope: Envelope, *, confirm_within: float
) -> None:
    """Publish a signed envelope to the hub's ingress: persistent, mandatory, confirmed;
    its traceparent also in the AMQP headers, where the hub looks for it."""
    headers: dict[str, Any] = (
        {} if envelope.traceparent is None else {tracing.TRACEPARENT: envelope.traceparent}
    )
    await broker.publish(
        envelope.to_bytes(),
        exchange=INGRESS,
        routing_key=envelope.kind,
        message_id=str(envelope.id),
        content_type="application/json",
        headers=headers,
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
    limits: WireLimits = field(default_factory=WireLimits)
    """The hub's size limit (hub.max_message_bytes): what the hub delivers, it reads."""
    ring_dir: Path | None = None
    """Where `ring` came from: reread when a delivery names a key not in it."""
    sealing_keys: SealingKeys | None = None
    """This system's private sealing keys, which open what is sealed to it."""
    _rereads: RingRereads = field(init=False, repr=False)
    _secret: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rereads = RingRereads(self.ring_dir, self.consumer)
        self._secret = sealing_secret(self.signer)

    @property
    def sealing_secret(self) -> bytes:
        """What this system seals with: a payload sent again under its id is the same
        bytes (contracts.sealing.seal_bytes)."""
        return self._secret

    @property
    def consumer(self) -> str:
        """The name this adapter's dedupe rows are kept under."""
        return adapter_queue(self.system, self.municipality)

    @property
    def instance(self) -> str:
        """The running instance's name in the envelopes it sends."""
        return f"{self.system.value.replace('_', '-')}-{self.municipality}"

    async def publish(self, envelope: Envelope) -> Envelope:
        """Sign (if needed) and publish; returns the signed envelope once confirmed
        (BrokerUnavailable if it was not)."""
        with tracing.tracer().start_as_current_span(
            f"publish {INGRESS_EXCHANGE}",
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "rabbitmq",
                "messaging.operation.type": "publish",
                "messaging.destination.name": INGRESS_EXCHANGE,
                "messaging.message.id": str(envelope.id),
                "sesshu.kind": bounded(envelope.kind, KINDS),
            },
        ) as span:
            if not envelope.signature:  # a new message: it carries this span's context
                traceparent = tracing.traceparent_of(span)
                if traceparent is not None and envelope.traceparent is None:
                    envelope = envelope.model_copy(update={"traceparent": traceparent})
            signed = envelope if envelope.signature else self.signer.sign(envelope)
            try:
                await publish_signed(self.broker, signed, confirm_within=self.publish_timeout)
            except PUBLISH_FAILURES as exc:
                raise BrokerUnavailable(
                    f"publish of {signed.kind} failed: {type(exc).__name__}"
                ) from exc
        Adapter.published.labels(
            self.system.value, self.municipality, bounded(signed.kind, KINDS)
        ).inc()
        return signed

    async def send(
        self,
        payload: Payload,
        *,
        to: SystemId,
        city: str | None = None,
        procedure: str,
        data_item: str,
        cause: Envelope | None = None,
        label: str = "",
        message_id: UUID | None = None,
        kind: str | None = None,
        municipality: str | None = None,
        operator: str | None = None,
        declared: Declaration | None = None,
        review: ReviewCopy | None = None,
    ) -> Envelope:
        """Build, sign and publish one envelope from this adapter; a payload that
        identifies a person is sealed to the recipient system of `city` (the hub routes
        it and journals only ciphertext, R43). One sealed already comes with the
        `declared` content of its plaintext and its `kind`. A provision goes with its
        `review` copy, sealed to this city's desk for the 所属長 who may hold it (R37).

        Sent because of a delivery (`cause`), it continues that delivery's correlation and
        gets a stable id from it and `label`.
        """
        if message_id is None:
            message_id = (
                new_message_id()
                if cause is None
                else reply_id(cause, label or kind or payload.kind)
            )
        if not isinstance(payload, SealedPayload):
            kind = payload.kind
            payload, declared = addressed(
                payload,
                self.ring,
                to,
                city or self.municipality,
                envelope_id=message_id,
                secret=self._secret,
            )
        envelope = Envelope.new(
            payload=payload,
            declared=declared,
            review=None
            if review is None
            else sealed_review(
                review, self.ring, self.municipality, envelope_id=message_id, secret=self._secret
            ),
            kind=kind,
            message_id=message_id,
            municipality=municipality or self.municipality,
            sender=Party(system=self.system, instance=self.instance, operator=operator),
            recipient=Recipient(system=to, municipality=city or self.municipality),
            procedure=procedure,
            data_items=(data_item,),
            key_id=self.signer.key_id,
            correlation_id=None if cause is None else cause.correlation_id,
            causation_id=None if cause is None else cause.id,
        )
        return await self.publish(envelope)

    def subscribe(self, handler: Handler) -> None:
        """Consume this adapter's queue; `handler` runs once per message id."""
        queue = RabbitQueue(self.consumer, queue_type=QueueType.QUORUM, durable=True, declare=False)

        @self.broker.subscriber(queue, ack_policy=AckPolicy.MANUAL)
        async def _on_delivery(message: RabbitMessage) -> None:
            await self._deliver(message, handler)

    def _verified(self, body: bytes) -> Envelope:
        try:
            return verified(body, self.ring, self.limits)
        except UnknownKey:
            # The hub rereads its ring while it runs: a key it took in since this adapter
            # read its own is on the disk now. Read it again, once, then decide.
            ring = self._rereads.reread()
            if ring is None:
                raise
            self.ring = ring
            return verified(body, ring, self.limits)

    async def _deliver(self, message: RabbitMessage, handler: Handler) -> None:
        with tracing.tracer().start_as_current_span(
            f"process {self.consumer}",
            context=tracing.context_of(message.headers),
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "rabbitmq",
                "messaging.operation.type": "process",
                "messaging.destination.name": self.consumer,
                "messaging.message.id": message.message_id or "",
            },
        ):
            outcome = await self._deliver_traced(message, handler)
        Adapter.deliveries.labels(self.system.value, self.municipality, outcome).inc()

    async def _deliver_traced(self, message: RabbitMessage, handler: Handler) -> str:
        try:
            envelope = self._verified(message.body)
        except VerificationError as exc:
            # Only the hub publishes here and it verified first: this is tampering or a
            # misconfigured ring. Refuse it for good rather than loop on it.
            log.error("delivery refused by %s: %s", self.consumer, exc.code)
            await message.reject(requeue=False)
            return "refused"
        outcome = await self._handled_once(envelope, handler)
        if outcome == "waits":
            await message.nack(requeue=True)
        else:
            await message.ack()
        return outcome

    async def _handled_once(self, envelope: Envelope, handler: Handler) -> str:
        """Run `handler` unless the inbox saw this message id: handled, duplicate, failed
        (recorded so, never again), or waits (put it back)."""
        try:
            async with self.inbox.first_time(self.consumer, str(envelope.id)) as transaction:
                if not transaction.fresh:
                    return "duplicate"
                await self._opened_then(envelope, handler, transaction)
        except (NotYet, Retryable) as exc:
            # What it waits for is on its way, or the database or broker is away: again,
            # after a pause (RabbitMQ puts it back at the head of the queue).
            log.info("message %s of %s waits: %s", envelope.id, self.consumer, type(exc).__name__)
            await asyncio.sleep(RETRY_PAUSE)
            return "waits"
        except Exception as exc:
            await self._failed(envelope, exc)
            return "failed"
        return "handled"

    async def _opened_then(
        self, envelope: Envelope, handler: Handler, transaction: InboxTransaction
    ) -> None:
        """`handler` on the delivery as this system reads it; a delivery refused once
        opened is recorded as refused and its sender told why."""
        try:
            readable = delivered(envelope, self.sealing_keys)
        except Refusal as refusal:
            log.warning(
                "message %s (%s) refused by %s: %s",
                envelope.id,
                envelope.kind,
                self.consumer,
                refusal.code,
            )
            await transaction.record_effect(f"refused:{refusal.code}")
            await self.refuse(envelope, refusal)
            return
        await handler(readable, transaction)

    async def refuse(self, refused: Envelope, refusal: Refusal) -> Envelope:
        """Tell the sender of `refused` why this system refused it (a `delivery_refusal`,
        the same each time for the same refusal); the refusal as sent."""
        return await self.publish(self._refusal(refused, refusal))

    def _refusal(self, refused: Envelope, refusal: Refusal) -> Envelope:
        """The `delivery_refusal` that tells the sender of `refused` why, back along the
        path it came (same procedure and data items), with a stable id."""
        notice = DeliveryRefusal(
            refused_message_id=refused.id,
            reason_code=refusal.code,
            reason=refusal.reason,
        )
        return Envelope.new(
            payload=notice,
            message_id=reply_id(refused, notice.kind),
            municipality=self.municipality,
            sender=Party(system=self.system, instance=self.instance),
            recipient=Recipient(system=refused.sender.system, municipality=refused.municipality),
            procedure=refused.procedure,
            data_items=refused.data_items,
            key_id=self.signer.key_id,
            correlation_id=refused.correlation_id,
            causation_id=refused.id,
        )

    async def _failed(self, envelope: Envelope, exc: Exception) -> None:
        """A handler that fails for good must not loop on the message: it is recorded as
        failed in the adapter's inbox (the hub's journal keeps the message itself) and
        acknowledged. The log names the error's type only, never its text, which may
        hold a value of the message."""
        log.error(
            "message %s (%s) failed for good in %s: %s",
            envelope.id,
            envelope.kind,
            self.consumer,
            type(exc).__name__,
        )
        async with self.inbox.first_time(self.consumer, str(envelope.id)) as transaction:
            if transaction.fresh:
                await transaction.record_effect(f"failed:{type(exc).__name__}")
