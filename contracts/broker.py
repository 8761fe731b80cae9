"""Every exchange, queue and header name on the wire, in one place.

These names are part of the contract between the hub and the systems' adapters: an
adapter publishes signed envelopes to `INGRESS_EXCHANGE` with the kind as routing key and
consumes its own `adapter_queue(system, municipality)`.
"""

from __future__ import annotations

from collections.abc import Iterable

from contracts.codes import SystemId

__all__ = [
    "ADAPTER_SYSTEMS",
    "DEAD_EXCHANGE",
    "DEAD_QUEUE",
    "DELIVER_EXCHANGE",
    "HEADER_KIND",
    "HEADER_REASON",
    "HEADER_REASON_CODE",
    "HEADER_RECEIVED_BYTES",
    "INGRESS_EXCHANGE",
    "INGRESS_QUEUE",
    "adapter_queue",
    "destinations",
]

INGRESS_EXCHANGE = "sesshu.ingress"
INGRESS_QUEUE = "hub.ingress"
DELIVER_EXCHANGE = "sesshu.deliver"
DEAD_EXCHANGE = "sesshu.dead"
DEAD_QUEUE = "hub.dead"
HEADER_KIND = "x-sesshu-kind"
HEADER_REASON_CODE = "x-sesshu-reason-code"
HEADER_REASON = "x-sesshu-reason"
# On a too_large dead letter, which carries only the first max_message_bytes of the body.
HEADER_RECEIVED_BYTES = "x-sesshu-received-bytes"
ADAPTER_SYSTEMS = tuple(s for s in SystemId if s not in (SystemId.HUB, SystemId.DESK))


def adapter_queue(system: SystemId | str, municipality: str) -> str:
    """`adapter.<system>.<municipality>`, the queue one adapter consumes for one city."""
    return f"adapter.{SystemId(system).value}.{municipality}"


def destinations(municipalities: Iterable[str]) -> frozenset[str]:
    """Routing keys on the delivery exchange that have an adapter queue."""
    return frozenset(f"{s.value}.{m}" for s in ADAPTER_SYSTEMS for m in municipalities)
