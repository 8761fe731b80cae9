"""Every exchange, queue and header name on the wire, in one place.

These names are part of the contract between the hub and the systems' adapters: an
adapter publishes signed envelopes to `INGRESS_EXCHANGE` with the kind as routing key and
consumes its own `adapter_queue(system, municipality)`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

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
    "KINDS_SENT",
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


_REFUSAL = "delivery_refusal"  # any adapter may refuse what it was delivered
KINDS_SENT: Mapping[SystemId, frozenset[str]] = {
    SystemId.HEALTH_MGMT: frozenset(
        {
            "vaccination_record",
            "fukuhon_registration",
            "target_registration",
            "resident_status_flag",
            "inquiry_request",
            "resident_notice",
            _REFUSAL,
        }
    ),
    SystemId.INTERMEDIATE: frozenset(
        {
            "linkage_registration",
            "inquiry_request",
            "provision_response",
            "provision_record",
            "inquiry_result",
            "resident_notice",
            _REFUSAL,
        }
    ),
    SystemId.VRS: frozenset(
        {
            "dose_record",
            "vaccination_export",
            "transfer_in_inquiry",
            "transfer_out_provision",
            "certificate_issued",
            _REFUSAL,
        }
    ),
    SystemId.KIOSK: frozenset({"certificate_application", _REFUSAL}),
    SystemId.NWS: frozenset(
        {
            "permitted_list_update",
            "provision_permit",
            "inquiry_request",
            "provision_response",
            "self_information_request",
            _REFUSAL,
        }
    ),
    SystemId.HUB: frozenset({"approval_attestation", "rejection_notice"}),
}
"""The kinds each system publishes (its routing keys on `INGRESS_EXCHANGE`): the broker's
topic permissions let a system's user publish these and nothing else."""
