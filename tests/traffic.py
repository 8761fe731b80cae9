"""Traffic for the tests: signed envelopes of the sample policy's senders, published to
the hub's ingress the way an adapter publishes, and the domain messages tests send."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence

import aio_pika
from aiormq.exceptions import AMQPError

from contracts.codes import SystemId
from contracts.envelope import Envelope, Party, Recipient
from contracts.examples import example_payload
from contracts.payloads import (
    Payload,
    ProvisionResponse,
    ResidentStatusFlag,
    ReviewCopy,
    ReviewSubject,
    TransferOutProvision,
)
from tests.harness import CHIKUSEI, SENDERS, YUKI, Services

# What each sender sends, on the sample permitted-inquiry list: recipient, procedure,
# data item, and the n-th payload.
TRAFFIC_OF: dict[SystemId, tuple[SystemId, str, str, Callable[[int], Payload]]] = {
    SystemId.HEALTH_MGMT: (
        SystemId.VRS,
        "S19-16",
        "covid.resident_status",
        lambda n: ResidentStatusFlag(
            basic_code=str(10_000 + n), flag="moved_out", effective_on="2026-11-01"
        ),
    ),
    SystemId.VRS: (
        SystemId.HEALTH_MGMT,
        "S19-16",
        "covid.dose",
        lambda n: example_payload("dose_record"),
    ),
    SystemId.INTERMEDIATE: (
        SystemId.HEALTH_MGMT,
        "B2-115-2",
        "vaccination.history",
        lambda n: example_payload("inquiry_result"),
    ),
}


def signed_traffic(
    services: Services, count: int, senders: Sequence[tuple[SystemId, str]] = SENDERS
) -> list[tuple[str, bytes]]:
    """`count` signed envelopes, round-robin over the senders: (message id, wire bytes)."""
    signers = {sender: services.signer(*sender) for sender in senders}
    traffic = []
    for index in range(count):
        system, municipality = senders[index % len(senders)]
        recipient, procedure, data_item, payload = TRAFFIC_OF[system]
        envelope = services.envelope(
            payload(index),
            municipality=municipality,
            sender=Party(system=system, instance=f"{system.value.replace('_', '-')}-1"),
            recipient=Recipient(system=recipient, municipality=municipality),
            procedure=procedure,
            data_items=(data_item,),
            key_id=signers[(system, municipality)].key_id,
        )
        signed = signers[(system, municipality)].sign(envelope)
        traffic.append((str(signed.id), signed.to_bytes()))
    return traffic


def kind_of(body: bytes) -> str:
    """The envelope's kind, the routing key an adapter publishes it under; for bytes that
    are no envelope, a key of their own."""
    try:
        kind = json.loads(body).get("kind")
    except (ValueError, AttributeError, RecursionError):
        return "not-an-envelope"
    plain = isinstance(kind, str) and kind.isascii() and kind.isidentifier() and len(kind) <= 64
    return kind if plain else "not-an-envelope"


async def publish(
    url: str,
    bodies: Sequence[bytes],
    *,
    routing_key: str | None = None,
    routing_keys: Sequence[str] | None = None,
    window: int = 500,
) -> None:
    """Publish to the ingress exchange with confirms, `window` at a time, retrying on outages;
    each under its kind, as adapters do, unless `routing_key` (for all) or `routing_keys`
    (one per body) is given.

    A publish whose confirm was lost is sent again: the hub dedupes it by message id.
    """
    keys = list(routing_keys or [routing_key or kind_of(b) for b in bodies])
    pending = list(zip(bodies, keys, strict=True))
    while pending:
        try:
            connection = await aio_pika.connect(url)
        except (AMQPError, OSError):
            await asyncio.sleep(0.5)
            continue
        try:
            channel = await connection.channel(on_return_raises=True)
            exchange = await channel.get_exchange("sesshu.ingress")
            while pending:
                chunk = pending[:window]
                await asyncio.gather(
                    *(
                        exchange.publish(
                            aio_pika.Message(b, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                            routing_key=key,
                            timeout=30,
                        )
                        for b, key in chunk
                    )
                )
                del pending[: len(chunk)]
        except (AMQPError, OSError, TimeoutError, RuntimeError):
            await asyncio.sleep(0.5)
        finally:
            if not connection.is_closed:
                await connection.close()


def provision(services: Services, *, operator: str | None = None) -> Envelope:
    """A flagged 115の2 provision from Yuki's intermediate server to the network."""
    signer = services.signer(SystemId.INTERMEDIATE, YUKI)
    reply = example_payload("provision_response")
    assert isinstance(reply, ProvisionResponse)
    review = ReviewCopy(
        inquirer=CHIKUSEI,
        inquirer_system=SystemId.INTERMEDIATE,
        subject=ReviewSubject(reference="1001"),
        provision=reply,
    )
    envelope = services.envelope(
        reply,
        review=review,
        municipality=YUKI,
        sender=Party(system=SystemId.INTERMEDIATE, instance="is-1", operator=operator),
        recipient=Recipient(system=SystemId.NWS, municipality=YUKI),
        procedure="B2-115-2",
        data_items=("vaccination.history",),
        key_id=signer.key_id,
    )
    return signer.sign(envelope)


def transfer_out(services: Services, *, review: ReviewCopy | None = None) -> Envelope:
    """Yuki's VRS answering Chikusei's transfer-in inquiry: carries My Number; flagged here.
    Its review copy is `review` if given (what a provider shows its 所属長 is its own)."""
    signer = services.signer(SystemId.VRS, YUKI)
    provided = example_payload("transfer_out_provision")
    assert isinstance(provided, TransferOutProvision)
    review = review or ReviewCopy(
        inquirer=CHIKUSEI,
        inquirer_system=SystemId.VRS,
        subject=ReviewSubject(reference="7001", name="下館 花子", birth_date="1950-04-01"),
        provision=provided,
    )
    envelope = services.envelope(
        provided,
        review=review,
        municipality=YUKI,
        sender=Party(system=SystemId.VRS, instance="vrs-1"),
        recipient=Recipient(system=SystemId.VRS, municipality=CHIKUSEI),
        procedure="S19-16",
        data_items=("covid.vaccination_record",),
        key_id=signer.key_id,
    )
    return signer.sign(envelope)
