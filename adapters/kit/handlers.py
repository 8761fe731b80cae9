"""What a system's delivery handlers are made of, apart from the broker (`bridge.Bridge`
runs them): the handler's type, one handler per kind (`dispatch`) and per sender
(`only_from`), the payload as its model (`payload_of`), the stable id of what a handler
sends (`reply_id`, part of the wire contract), and `NotYet`, which puts a delivery back.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar
from uuid import UUID

from adapters.ports import InboxTransaction
from contracts.codes import SystemId
from contracts.envelope import Envelope, stable_message_id
from contracts.payloads import DeliveryRefusal, Payload

log = logging.getLogger("sesshu.adapters.handlers")

__all__ = [
    "Handler",
    "LineIds",
    "NotYet",
    "dispatch",
    "only_from",
    "payload_of",
    "refused_by_recipient",
    "reply_id",
]

Handler = Callable[[Envelope, InboxTransaction], Awaitable[None]]
"""Does the adapter's work for one delivery, inside the inbox transaction."""
LineIds = Callable[[int, str], UUID]
"""The stable id of what a line of an edge's request file causes, by (line, label), as
`adapters.kit.folders.Source.stable_id` gives it: the same each time the file is handled,
so a file handled again after a crash sends nothing twice (line 0: the whole file)."""


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


async def refused_by_recipient(envelope: Envelope, transaction: InboxTransaction) -> None:
    """A recipient refused what this system sent it, once it had opened it: recorded
    (with the refused message's id in the log, for the operator) and not sent again."""
    refusal = payload_of(envelope, DeliveryRefusal)
    log.warning(
        "message %s was refused by its recipient %s: %s",
        refusal.refused_message_id,
        envelope.sender.system.value,
        refusal.reason_code,
    )
    await transaction.record_effect(f"refused_by_recipient:{refusal.reason_code}")


def dispatch(handlers: Mapping[str, Handler]) -> Handler:
    """One handler that hands each delivery to the one for its kind; a recipient's
    refusal of what this system sent is recorded (`refused_by_recipient`); other kinds
    are recorded as ignored (a system is told of approvals it has no use for)."""
    handlers = {"delivery_refusal": refused_by_recipient, **handlers}

    async def handle(envelope: Envelope, transaction: InboxTransaction) -> None:
        handler = handlers.get(envelope.kind)
        if handler is None:
            await transaction.record_effect(f"ignored:{envelope.kind}")
            return
        await handler(envelope, transaction)

    return handle
