"""The adapter bridge's handler logic, in memory (FastStream's TestRabbitBroker).

The same bridge runs against the real broker in tests/chaos; this only pins down its
decisions: verify, dedupe, ack, refuse.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from faststream.rabbit import RabbitBroker, TestRabbitBroker

from adapters.kit import Bridge, make_broker
from adapters.kit.handlers import dispatch, only_from
from adapters.kit.stored import MemoryInbox
from adapters.ports import InboxTransaction
from contracts.broker import adapter_queue
from contracts.codes import SystemId
from contracts.envelope import Envelope, Party, Recipient
from contracts.examples import example_payload
from contracts.keys import KeyRing, generate_key
from contracts.signing import Signer

START = datetime.now(UTC) - timedelta(days=1)
IMS = generate_key(SystemId.HEALTH_MGMT, "082279", key_id="ims-1", valid_from=START)
VRS = generate_key(SystemId.VRS, "082279", key_id="vrs-1", valid_from=START)
RING = KeyRing([IMS.entry, VRS.entry])
QUEUE = adapter_queue(SystemId.VRS, "082279")


def signed() -> bytes:
    envelope = Envelope.new(
        payload=example_payload("resident_status_flag"),
        municipality="082279",
        sender=Party(system="health_mgmt", instance="ims-1"),
        recipient=Recipient(system="vrs", municipality="082279"),
        procedure="S19-16",
        key_id="ims-1",
    )
    return Signer("ims-1", IMS.signing).sign(envelope).to_bytes()


async def test_a_redelivered_message_reaches_the_handler_once() -> None:
    store = MemoryInbox()
    broker = make_broker("amqp://guest:guest@127.0.0.1:5672/")
    seen: list[str] = []

    async def handle(envelope: Envelope, transaction: InboxTransaction) -> None:
        seen.append(str(envelope.id))
        await transaction.record_effect("stored")

    Bridge(broker, SystemId.VRS, "082279", Signer("vrs-1", VRS.signing), RING, store).subscribe(
        handle
    )
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

    Bridge(broker, SystemId.VRS, "082279", Signer("vrs-1", VRS.signing), RING, store).subscribe(
        handle
    )
    async with TestRabbitBroker(broker) as test_broker:
        await test_broker.publish(signed().replace(b"moved_out", b"deceased"), queue=QUEUE)
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

    Bridge(broker, SystemId.VRS, "082279", Signer("vrs-1", VRS.signing), RING, store).subscribe(
        handle
    )
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

    Bridge(broker, SystemId.VRS, "082279", Signer("vrs-1", VRS.signing), RING, store).subscribe(
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
    return Bridge(broker, SystemId.VRS, "082279", signer, ring, store, ring_dir=ring_dir)


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
