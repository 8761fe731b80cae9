"""Each party's broker user may do what it needs and nothing more, on the real RabbitMQ
(issue 13, R15, R41): the hub declares the topology, reads its ingress and delivers; an
adapter publishes only its own kinds to the ingress and consumes only its own queue."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import aio_pika
import pytest
import pytest_asyncio
from aiormq.exceptions import ChannelAccessRefused, ProbableAuthenticationError

from contracts.broker import (
    DEAD_QUEUE,
    DELIVER_EXCHANGE,
    INGRESS_EXCHANGE,
    INGRESS_QUEUE,
    KINDS_SENT,
    adapter_queue,
)
from contracts.codes import SystemId
from hub.topology import declare
from stack.parties import Login, Party, parties_of
from stack.provision import Place
from tests import harness
from tests.harness import CHIKUSEI, YUKI

pytestmark = [
    pytest.mark.skipif(not Place("probe").own_vhost, reason="needs rabbitmqctl"),
    pytest.mark.asyncio(loop_scope="module"),
]

VRS = Party(SystemId.VRS, CHIKUSEI)
NWS = Party(SystemId.NWS)
HUB = Party(SystemId.HUB)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def granted() -> AsyncIterator[tuple[Place, dict[Party, Login]]]:
    place = await harness.test_place().make()
    try:
        logins = await place.grant_broker(parties_of([CHIKUSEI, YUKI]))
        connection = await aio_pika.connect(logins[HUB].url(place.amqp_url))
        async with connection:  # the hub's own user declares everything it needs
            await declare(await connection.channel(), [CHIKUSEI, YUKI])
        yield place, logins
    finally:
        await place.remove()


async def _channel(
    granted: tuple[Place, dict[Party, Login]], party: Party
) -> tuple[aio_pika.abc.AbstractConnection, aio_pika.abc.AbstractChannel]:
    place, logins = granted
    connection = await aio_pika.connect(logins[party].url(place.amqp_url))
    return connection, await connection.channel(publisher_confirms=True)


async def _consumes(granted: tuple[Place, dict[Party, Login]], party: Party, queue: str) -> None:
    connection, channel = await _channel(granted, party)
    async with connection:
        found = await channel.get_queue(queue, ensure=True)  # a passive declaration
        await found.consume(_ignore, no_ack=False)


async def _ignore(message: aio_pika.abc.AbstractIncomingMessage) -> None:
    await message.nack()


async def _publishes(
    granted: tuple[Place, dict[Party, Login]], party: Party, exchange: str, key: str
) -> None:
    connection, channel = await _channel(granted, party)
    async with connection:
        target = await channel.get_exchange(exchange, ensure=False)
        await target.publish(aio_pika.Message(b"{}"), routing_key=key, timeout=10)


async def test_every_party_but_the_desk_has_a_user_of_its_own_and_none_is_guest(
    granted: tuple[Place, dict[Party, Login]],
) -> None:
    place, logins = granted
    assert Party(SystemId.DESK) not in logins  # it publishes nothing: the outbox does
    users = [login.user for login in logins.values()]
    assert len(set(users)) == len(users) == 2 + 2 * 4
    assert all(user.startswith(place.name + ".") for user in users)
    assert len({login.password for login in logins.values()}) == len(users)


async def test_an_adapter_consumes_its_own_queue_and_publishes_its_own_kinds(
    granted: tuple[Place, dict[Party, Login]],
) -> None:
    await _consumes(granted, VRS, adapter_queue(SystemId.VRS, CHIKUSEI))
    for kind in KINDS_SENT[SystemId.VRS]:
        await _publishes(granted, VRS, INGRESS_EXCHANGE, kind)
    await _consumes(granted, NWS, adapter_queue(SystemId.NWS, YUKI))


@pytest.mark.parametrize(
    "queue",
    [
        adapter_queue(SystemId.VRS, YUKI),  # the same system of another city
        adapter_queue(SystemId.INTERMEDIATE, CHIKUSEI),  # another system of its city
        INGRESS_QUEUE,
        DEAD_QUEUE,
    ],
)
async def test_an_adapter_may_not_consume_another_queue(
    granted: tuple[Place, dict[Party, Login]], queue: str
) -> None:
    with pytest.raises(ChannelAccessRefused, match="ACCESS_REFUSED"):
        await _consumes(granted, VRS, queue)


async def test_the_network_may_not_consume_a_city_systems_queue(
    granted: tuple[Place, dict[Party, Login]],
) -> None:
    with pytest.raises(ChannelAccessRefused, match="ACCESS_REFUSED"):
        await _consumes(granted, NWS, adapter_queue(SystemId.INTERMEDIATE, CHIKUSEI))


async def test_an_adapter_may_not_publish_to_the_delivery_exchange(
    granted: tuple[Place, dict[Party, Login]],
) -> None:
    with pytest.raises(ChannelAccessRefused, match="ACCESS_REFUSED"):
        await _publishes(granted, VRS, DELIVER_EXCHANGE, f"vrs.{YUKI}")


@pytest.mark.parametrize(
    "kind",
    [
        "target_registration",  # health management's
        "approval_attestation",  # the hub's: a forged 所属長 decision
        "provision_response",  # the intermediate server's and the network's
        "#",
        "dose_record.extra",
    ],
)
async def test_an_adapter_may_not_publish_a_kind_its_system_does_not_send(
    granted: tuple[Place, dict[Party, Login]], kind: str
) -> None:
    with pytest.raises(ChannelAccessRefused, match="ACCESS_REFUSED"):
        await _publishes(granted, VRS, INGRESS_EXCHANGE, kind)


async def _bind_to_another_citys_deliveries(channel: aio_pika.abc.AbstractChannel) -> object:
    queue = await channel.get_queue(adapter_queue(SystemId.VRS, CHIKUSEI))
    return await queue.bind(DELIVER_EXCHANGE, f"vrs.{YUKI}")


DECLARATIONS: dict[str, Callable[[aio_pika.abc.AbstractChannel], Awaitable[object]]] = {
    "queue": lambda channel: channel.declare_queue("vrs.mine", durable=True),
    "exchange": lambda channel: channel.declare_exchange("vrs.mine", aio_pika.ExchangeType.TOPIC),
    # Even the very declarations the hub makes.
    "ingress": lambda channel: channel.declare_exchange(
        INGRESS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
    ),
    "own queue": lambda channel: channel.declare_queue(
        adapter_queue(SystemId.VRS, CHIKUSEI), durable=True, arguments={"x-queue-type": "quorum"}
    ),
    "binding": _bind_to_another_citys_deliveries,
}


@pytest.mark.parametrize("what", sorted(DECLARATIONS))
async def test_an_adapter_may_declare_nothing(
    granted: tuple[Place, dict[Party, Login]], what: str
) -> None:
    connection, channel = await _channel(granted, VRS)
    async with connection:
        with pytest.raises(ChannelAccessRefused, match="ACCESS_REFUSED"):
            await DECLARATIONS[what](channel)


async def test_the_hub_may_not_read_an_adapter_queue_nor_publish_to_its_ingress(
    granted: tuple[Place, dict[Party, Login]],
) -> None:
    with pytest.raises(ChannelAccessRefused, match="ACCESS_REFUSED"):
        await _consumes(granted, HUB, adapter_queue(SystemId.VRS, CHIKUSEI))
    with pytest.raises(ChannelAccessRefused, match="ACCESS_REFUSED"):
        await _publishes(granted, HUB, INGRESS_EXCHANGE, "dose_record")


async def test_a_wrong_password_and_the_guest_account_of_another_party_are_refused(
    granted: tuple[Place, dict[Party, Login]],
) -> None:
    place, logins = granted
    wrong = Login(logins[VRS].user, logins[NWS].password)
    with pytest.raises(ProbableAuthenticationError):
        await aio_pika.connect(wrong.url(place.amqp_url))


async def test_removing_the_place_removes_its_users() -> None:
    place = await harness.test_place().make()
    logins = await place.grant_broker([VRS])
    await place.remove()
    with pytest.raises(ProbableAuthenticationError):
        await aio_pika.connect(logins[VRS].url(place.amqp_url))
