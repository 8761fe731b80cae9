"""The adapter side of the hub: publish signed envelopes, consume deliveries once."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar
from uuid import UUID

from aiormq.exceptions import AMQPError
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
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

from adapters.ports import AdapterInbox, InboxTransaction
from contracts.broker import INGRESS_EXCHANGE, adapter_queue
from contracts.codes import SystemId
from contracts.envelope import Envelope, Party, Recipient, new_message_id, stable_message_id
from contracts.keys import KeyRing, KeyRingError
from contracts.payloads import Payload, SealedPayload
from contracts.sealing import SealError, open_sealed, seal
from contracts.signing import (
    Freshness,
    Signer,
    UnknownKey,
    VerificationError,
    parse_and_verify,
)
from contracts.wire import WireLimits
from hub.errors import BrokerUnavailable, Retryable

__all__ = [
    "Bridge",
    "Broker",
    "Handler",
    "LineIds",
    "NotYet",
    "SealingKeys",
    "dispatch",
    "make_broker",
    "only_from",
    "opened",
    "payload_of",
    "publish_signed",
    "reply_id",
]

log = logging.getLogger("sesshu.adapters.bridge")

Broker = RabbitBroker
"""The broker connection adapters share (so the wiring need not import FastStream)."""
Handler = Callable[[Envelope, InboxTransaction], Awaitable[None]]
"""Does the adapter's work for one delivery, inside the inbox transaction."""
LineIds = Callable[[int, str], UUID]
"""The stable id of what a line of an edge's request file causes, by (line, label), as
`adapters.kit.folders.Source.stable_id` gives it: the same each time the file is handled,
so a file handled again after a crash sends nothing twice (line 0: the whole file)."""
RETRY_PAUSE = 1.0
# A refused, returned or unconfirmed publish; the caller keeps what it was sending.
PUBLISH_FAILURES = (AMQPError, TimeoutError, ConnectionError, RuntimeError)


class NotYet(Exception):
    """The delivery cannot be handled yet (what it depends on is still on its way): it is
    put back after a pause and tried again."""


P = TypeVar("P", bound=Payload)


def payload_of(envelope: Envelope, model: type[P]) -> P:
    """The delivery's payload as the model its kind promises (TypeError if it is not, e.g.
    still sealed)."""
    if not isinstance(envelope.payload, model):
        raise TypeError(f"payload: a {envelope.kind} delivery does not hold a {model.__name__}")
    return envelope.payload


SealingKeys = Callable[[str], X25519PrivateKey]
"""This system's private sealing key of a key id (KeyError if it has none of that id):
a payload sealed before a key rotation still opens with the key it names."""


def opened(
    envelope: Envelope, model: type[P], keys: SealingKeys, *, bound_to: UUID | None = None
) -> P:
    """The payload of a delivery sealed to this system, opened with the key it names (the
    envelope it is bound to is this one unless `bound_to` says otherwise); SealError if it
    does not open, TypeError if it is not a `model`."""
    payload: Payload = envelope.payload
    if isinstance(payload, SealedPayload):
        try:
            private_key = keys(payload.recipient_key_id)
        except KeyError:
            raise SealError(f"no private key {payload.recipient_key_id}") from None
        payload = open_sealed(
            payload,
            private_key=private_key,
            envelope_id=bound_to or envelope.id,
            kind=envelope.kind,
        )
    if not isinstance(payload, model):
        raise TypeError(f"payload: a {envelope.kind} delivery does not hold a {model.__name__}")
    return payload


def reply_id(cause: Envelope, label: str) -> UUID:
    """The id of what an adapter sends because of `cause`: the same on every redelivery,
    so a handler that runs twice sends nothing twice (the hub dedupes by id)."""
    return stable_message_id(cause.id.bytes + label.encode(), cause.sent_at)


def only_from(*systems: SystemId, handler: Handler) -> Handler:
    """`handler`, for deliveries sent by one of `systems` only; from any other system the
    delivery is recorded as refused (routing checks the data item, not who sends a kind)."""

    async def checked(envelope: Envelope, transaction: InboxTransaction) -> None:
        if envelope.sender.system not in systems:
            await transaction.record_effect(f"refused:wrong_sender:{envelope.sender.system.value}")
            return
        await handler(envelope, transaction)

    return checked


def dispatch(handlers: Mapping[str, Handler]) -> Handler:
    """One handler that hands each delivery to the one for its kind; other kinds are
    recorded as ignored (a system is told of approvals it has no use for, for example)."""

    async def handle(envelope: Envelope, transaction: InboxTransaction) -> None:
        handler = handlers.get(envelope.kind)
        if handler is None:
            await transaction.record_effect(f"ignored:{envelope.kind}")
            return
        await handler(envelope, transaction)

    return handle


# The hub checked freshness when the message arrived; a delivery may wait in the adapter's
# queue for as long as the adapter is down, so here only signature and binding count.
DELIVERY_FRESHNESS = Freshness(max_age=timedelta(days=3650), max_future=timedelta(days=1))
# The least time between two rereads of the key ring on unknown keys (Bridge._reread_ring).
RING_REREAD_SECONDS = 1.0
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
    limits: WireLimits = field(default_factory=WireLimits)
    """The hub's size limit (hub.max_message_bytes): what the hub delivers, it reads."""
    ring_dir: Path | None = None
    """Where `ring` came from: reread when a delivery names a key not in it."""
    _ring_read_at: float = field(default=float("-inf"), init=False, repr=False)

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
        signed = envelope if envelope.signature else self.signer.sign(envelope)
        try:
            await publish_signed(self.broker, signed, confirm_within=self.publish_timeout)
        except PUBLISH_FAILURES as exc:
            raise BrokerUnavailable(
                f"publish of {signed.kind} failed: {type(exc).__name__}"
            ) from exc
        return signed

    async def send_sealed(
        self,
        payload: Payload,
        *,
        to: SystemId,
        procedure: str,
        data_item: str,
        cause: Envelope | None = None,
    ) -> Envelope:
        """Like `send`, with the payload sealed to the recipient system of this city: the
        hub routes it and journals only ciphertext (R43, R50)."""
        message_id = new_message_id() if cause is None else reply_id(cause, payload.kind)
        key_id, public = self.ring.sealing_key_for(to, self.municipality, datetime.now(UTC))
        sealed = seal(payload, recipient_key_id=key_id, recipient=public, envelope_id=message_id)
        return await self.send(
            sealed,
            kind=payload.kind,
            message_id=message_id,
            to=to,
            procedure=procedure,
            data_item=data_item,
            cause=cause,
        )

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
    ) -> Envelope:
        """Build, sign and publish one envelope from this adapter.

        Sent because of a delivery (`cause`), it continues that delivery's correlation and
        gets a stable id from it and `label`.
        """
        if message_id is None and cause is not None:
            message_id = reply_id(cause, label or payload.kind)
        envelope = Envelope.new(
            payload=payload,
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
        queue = RabbitQueue(self.consumer, queue_type=QueueType.QUORUM, durable=True)

        @self.broker.subscriber(queue, ack_policy=AckPolicy.MANUAL)
        async def _on_delivery(message: RabbitMessage) -> None:
            await self._deliver(message, handler)

    def _verified(self, body: bytes) -> Envelope:
        def verify() -> Envelope:
            now = datetime.now(UTC)
            envelope, _ = parse_and_verify(
                body, self.ring, now=now, freshness=DELIVERY_FRESHNESS, limits=self.limits
            )
            return envelope

        try:
            return verify()
        except UnknownKey:
            # The hub rereads its ring while it runs: a key it took in since this adapter
            # read its own is on the disk now. Read it again, once, then decide.
            if not self._reread_ring():
                raise
            return verify()

    def _reread_ring(self) -> bool:
        # At most once a second: deliveries naming a key nobody has must not make the
        # adapter read the directory for each of them.
        moment = time.monotonic()
        if self.ring_dir is None or moment - self._ring_read_at < RING_REREAD_SECONDS:
            return False
        self._ring_read_at = moment
        try:
            self.ring = KeyRing.load(self.ring_dir)
        except KeyRingError as exc:
            log.error("%s could not reread the key ring: %s", self.consumer, exc)
            return False
        return True

    async def _deliver(self, message: RabbitMessage, handler: Handler) -> None:
        try:
            envelope = self._verified(message.body)
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
        except (NotYet, Retryable) as exc:
            # What it waits for is on its way, or the database or broker is away: again,
            # after a pause (RabbitMQ puts it back at the head of the queue).
            log.info("message %s of %s waits: %s", envelope.id, self.consumer, type(exc).__name__)
            await asyncio.sleep(RETRY_PAUSE)
            await message.nack(requeue=True)
            return
        except Exception as exc:
            await self._failed(envelope, exc)
        await message.ack()

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
