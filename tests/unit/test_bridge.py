"""The adapter bridge's handler logic, in memory (FastStream's TestRabbitBroker).

The same bridge runs against the real broker in tests/chaos; this only pins down its
decisions: verify, dedupe, ack, refuse.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from faststream.rabbit import (
    ExchangeType,
    RabbitBroker,
    RabbitExchange,
    RabbitQueue,
    TestRabbitBroker,
)
from faststream.rabbit.annotations import RabbitMessage

from adapters.kit import Bridge, make_broker
from adapters.kit.handlers import dispatch, only_from
from adapters.kit.stored import MemoryInbox
from adapters.ports import InboxTransaction
from contracts.broker import INGRESS_EXCHANGE, adapter_queue
from contracts.canonical import canonical_bytes
from contracts.codes import SystemId
from contracts.envelope import Declaration, Envelope, Party, Recipient
from contracts.examples import example_payload
from contracts.keys import GeneratedKey, KeyRing, generate_key
from contracts.payloads import DeliveryRefusal, Payload, ResidentStatusFlag
from contracts.sealing import seal_bytes
from contracts.signing import Signer
from tests.sealed import sealed_envelope

START = datetime.now(UTC) - timedelta(days=1)
IMS = generate_key(SystemId.HEALTH_MGMT, "082279", key_id="ims-1", valid_from=START)
VRS = generate_key(SystemId.VRS, "082279", key_id="vrs-1", valid_from=START)
STRANGER = generate_key(SystemId.VRS, "082074", key_id="vrs-yuki-1", valid_from=START)
RING = KeyRing([IMS.entry, VRS.entry])
QUEUE = adapter_queue(SystemId.VRS, "082279")


def signed(payload: Payload | None = None, to: GeneratedKey = VRS, **fields: Any) -> bytes:
    """A health-management envelope to Chikusei's VRS, its payload sealed to `to`."""
    envelope = sealed_envelope(
        payload or example_payload("resident_status_flag"),
        to,
        **{
            "municipality": "082279",
            "sender": Party(system="health_mgmt", instance="ims-1"),
            "recipient": Recipient(system="vrs", municipality="082279"),
            "procedure": "S19-16",
            "data_items": ("covid.resident_status",),
            "key_id": "ims-1",
        }
        | fields,
    )
    return Signer("ims-1", IMS.signing).sign(envelope).to_bytes()


def vrs_keys(key_id: str) -> X25519PrivateKey:
    if key_id != VRS.entry.key_id:
        raise KeyError(key_id)
    return VRS.sealing


def vrs(broker: RabbitBroker, store: MemoryInbox) -> Bridge:
    """Chikusei's VRS bridge, holding VRS's sealing key."""
    signer = Signer("vrs-1", VRS.signing)
    return Bridge(broker, SystemId.VRS, "082279", signer, RING, store, sealing_keys=vrs_keys)


async def test_a_redelivered_message_reaches_the_handler_once() -> None:
    store = MemoryInbox()
    broker = make_broker("amqp://guest:guest@127.0.0.1:5672/")
    seen: list[str] = []

    async def handle(envelope: Envelope, transaction: InboxTransaction) -> None:
        seen.append(str(envelope.id))
        await transaction.record_effect("stored")

    vrs(broker, store).subscribe(handle)
    body = signed()
    async with TestRabbitBroker(broker) as test_broker:
        await test_broker.publish(body, queue=QUEUE)
        await test_broker.publish(body, queue=QUEUE)
    assert len(seen) == 1
    assert [effect for _, _, effect in store.effects] == ["stored"]


async def test_a_tampered_delivery_never_reaches_the_handler() -> None:
    store = MemoryInbox()
    broker = make_broker("amqp://guest:guest@127.0.0.1:5672/")
    seen: list[Envelope] = []

    async def handle(envelope: Envelope, transaction: InboxTransaction) -> None:
        seen.append(envelope)

    vrs(broker, store).subscribe(handle)
    async with TestRabbitBroker(broker) as test_broker:
        await test_broker.publish(signed().replace(b'"S19-16"', b'"S19-17"'), queue=QUEUE)
    assert seen == []
    assert store.seen == set()


async def test_a_handler_that_fails_for_good_is_recorded_once_and_not_redelivered() -> None:
    store = MemoryInbox()
    broker = make_broker("amqp://guest:guest@127.0.0.1:5672/")
    calls: list[str] = []

    async def handle(envelope: Envelope, transaction: InboxTransaction) -> None:
        calls.append(str(envelope.id))
        await transaction.record_effect("half done")
        raise KeyError("a value of the message")

    vrs(broker, store).subscribe(handle)
    body = signed()
    async with TestRabbitBroker(broker) as test_broker:
        await test_broker.publish(body, queue=QUEUE)
        await test_broker.publish(body, queue=QUEUE)  # a redelivery finds it recorded
    assert len(calls) == 1
    # The half-done effect rolled back with the failure; the failure is what is kept.
    assert [effect for _, _, effect in store.effects] == ["failed:KeyError"]


async def test_a_kind_from_a_system_that_does_not_send_it_is_refused() -> None:
    store = MemoryInbox()
    broker = make_broker("amqp://guest:guest@127.0.0.1:5672/")
    seen: list[Envelope] = []

    async def handle(envelope: Envelope, transaction: InboxTransaction) -> None:
        seen.append(envelope)

    vrs(broker, store).subscribe(
        dispatch({"resident_status_flag": only_from(SystemId.KIOSK, handler=handle)})
    )
    async with TestRabbitBroker(broker) as test_broker:
        await test_broker.publish(signed(), queue=QUEUE)
    assert seen == []
    assert [effect for _, _, effect in store.effects] == ["refused:wrong_sender:health_mgmt"]


def reading_vrs(broker: RabbitBroker, store: MemoryInbox, ring_dir: Path) -> Bridge:
    """Chikusei's VRS bridge with the ring read from `ring_dir`, which it may read again."""
    signer = Signer("vrs-1", VRS.signing)
    ring = KeyRing.load(ring_dir)
    return Bridge(
        broker,
        SystemId.VRS,
        "082279",
        signer,
        ring,
        store,
        ring_dir=ring_dir,
        sealing_keys=vrs_keys,
    )


async def test_a_key_the_hub_took_in_since_the_adapter_started_is_read_from_the_ring(
    tmp_path: Path,
) -> None:
    # The hub rereads its ring while running; an adapter that started before a sender's
    # new key was added must not drop what that key signed (its queue has no dead letters).
    store = MemoryInbox()
    broker = make_broker("amqp://guest:guest@127.0.0.1:5672/")
    seen: list[str] = []

    async def handle(envelope: Envelope, transaction: InboxTransaction) -> None:
        seen.append(str(envelope.id))

    VRS.write(tmp_path)
    bridge = reading_vrs(broker, store, tmp_path)
    bridge.subscribe(handle)
    IMS.write(tmp_path)  # added after the adapter read its ring
    async with TestRabbitBroker(broker) as test_broker:
        await test_broker.publish(signed(), queue=QUEUE)
    assert len(seen) == 1
    assert bridge.ring.get("ims-1") is not None


async def test_deliveries_naming_unknown_keys_do_not_make_the_adapter_read_the_ring_each_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whoever can put messages on an adapter queue must not turn each into a directory read.
    reads: list[Path] = []
    real_load = KeyRing.load

    def counted(directory: Path) -> KeyRing:
        reads.append(directory)
        return real_load(directory)

    VRS.write(tmp_path)
    store = MemoryInbox()
    broker = make_broker("amqp://guest:guest@127.0.0.1:5672/")
    bridge = reading_vrs(broker, store, tmp_path)

    async def handle(envelope: Envelope, transaction: InboxTransaction) -> None:
        raise AssertionError("a forged key reached the handler")

    bridge.subscribe(handle)
    monkeypatch.setattr(KeyRing, "load", staticmethod(counted))
    async with TestRabbitBroker(broker) as test_broker:
        for _ in range(20):
            await test_broker.publish(signed(), queue=QUEUE)  # ims-1: in no ring here
    assert len(reads) == 1
    assert store.seen == set()


# -- what is sealed to this system is opened, and checked against its declaration ----------


async def _refused(body: bytes) -> tuple[list[Envelope], MemoryInbox, list[Envelope]]:
    """`body` delivered to VRS: what its handler saw, its inbox, and what VRS sent back."""
    store, broker = MemoryInbox(), make_broker("amqp://guest:guest@127.0.0.1:5672/")
    seen: list[Envelope] = []
    answered: list[Envelope] = []

    async def handle(envelope: Envelope, transaction: InboxTransaction) -> None:
        seen.append(envelope)
        await transaction.record_effect("flag:kept")

    ingress = RabbitExchange(INGRESS_EXCHANGE, type=ExchangeType.TOPIC, durable=True)

    @broker.subscriber(RabbitQueue("sender-t", routing_key="delivery_refusal"), ingress)
    async def _back(message: RabbitMessage) -> None:
        answered.append(Envelope.model_validate_json(message.body))

    vrs(broker, store).subscribe(handle)
    async with TestRabbitBroker(broker) as test_broker:
        await test_broker.publish(body, queue=QUEUE)
    return seen, store, answered


async def test_a_payload_sealed_to_this_system_reaches_the_handler_opened() -> None:
    seen, store, answered = await _refused(signed())
    assert isinstance(seen[0].payload, ResidentStatusFlag)
    assert seen[0].payload == example_payload("resident_status_flag")
    assert [effect for _, _, effect in store.effects] == ["flag:kept"]
    assert answered == []


@pytest.mark.parametrize(
    ("declared", "code", "reason"),
    [
        # R40/R21 at the recipient: a My Number inside that the sender declared absent.
        (Declaration(my_number=True, purpose=None), "declaration_mismatch", "declared.my_number"),
        (
            Declaration(my_number=False, purpose="certificate"),
            "declaration_mismatch",
            "declared.purpose",
        ),
    ],
)
async def test_content_that_contradicts_its_declaration_is_refused_and_the_sender_told(
    declared: Declaration, code: str, reason: str
) -> None:
    body = signed(declared=declared)
    seen, store, answered = await _refused(body)
    assert seen == []
    assert [effect for _, _, effect in store.effects] == [f"refused:{code}"]
    (notice,) = answered
    refusal = notice.payload
    assert isinstance(refusal, DeliveryRefusal)
    assert (refusal.reason_code, str(refusal.refused_message_id)) == (code, _id(body))
    assert refusal.reason.startswith(reason)
    assert (notice.sender.system, notice.recipient.system) == (SystemId.VRS, SystemId.HEALTH_MGMT)
    assert (notice.procedure, notice.data_items) == ("S19-16", ("covid.resident_status",))
    assert notice.causation_id is not None
    assert str(notice.causation_id) == _id(body)


async def test_a_my_number_inside_declared_absent_is_refused() -> None:
    # The payload holds a My Number; its sender declares none (as R40 would want on the
    # network): the recipient, which alone can see inside, refuses it.
    targets = example_payload("target_registration")
    body = signed(
        targets,
        data_items=("covid.target",),
        declared=Declaration(my_number=False, purpose=None),
    )
    seen, store, answered = await _refused(body)
    assert seen == []
    assert [effect for _, _, effect in store.effects] == ["refused:declaration_mismatch"]
    assert isinstance(answered[0].payload, DeliveryRefusal)


async def test_a_payload_sealed_to_another_key_is_refused_as_not_openable() -> None:
    seen, store, answered = await _refused(signed(to=STRANGER))
    assert seen == []
    assert [effect for _, _, effect in store.effects] == ["refused:not_openable"]
    assert isinstance(answered[0].payload, DeliveryRefusal)
    assert answered[0].payload.reason_code == "not_openable"


async def test_sealed_plaintext_that_is_no_valid_payload_is_refused_naming_the_field() -> None:
    envelope = Envelope.model_validate_json(signed())
    document = example_payload("resident_status_flag").model_dump(mode="json")
    document["flag"] = "emigrated"
    sealed = seal_bytes(
        canonical_bytes(document),
        recipient_key_id=VRS.entry.key_id,
        recipient=VRS.sealing.public_key(),
        envelope_id=envelope.id,
    )
    forged = Signer("ims-1", IMS.signing).sign(
        envelope.model_copy(update={"payload": sealed, "signature": None})
    )
    seen, store, answered = await _refused(forged.to_bytes())
    assert seen == []
    assert [effect for _, _, effect in store.effects] == ["refused:content_invalid"]
    refusal = answered[0].payload
    assert isinstance(refusal, DeliveryRefusal)
    assert "flag" in refusal.reason
    assert "emigrated" not in refusal.reason


def _id(body: bytes) -> str:
    return str(Envelope.model_validate_json(body).id)
