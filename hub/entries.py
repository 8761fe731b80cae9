"""Journal entries: the row the hub journals for each message it receives or sends, and
the one builder for each outcome (delivered or held, refused, failed on, an id reused).

A refusal's columns hold only what is safe to keep: the reason the hub wrote, made
printable, and fields from which any text holding twelve digits that pass the My Number
check is dropped. Everything else stays in the received bytes, which the entry keeps.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from contracts.broker import (
    DEAD_EXCHANGE,
    DELIVER_EXCHANGE,
    HEADER_KIND,
    HEADER_REASON,
    HEADER_REASON_CODE,
)
from contracts.codes import looks_like_my_number
from contracts.envelope import Envelope
from routing.decision import DIRECTION_OF, Deliver, Hold

__all__ = [
    "JournalEntry",
    "accepted",
    "bytes_key",
    "envelope_fields",
    "id_conflict",
    "internal_error",
    "rejected",
    "same_message",
]

_RECORDED_DIRECTIONS = {
    kind: direction for kind, direction in DIRECTION_OF.items() if direction != "transfer"
}


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One journal row and, unless held, the outbox row that goes with it."""

    dedupe_key: str
    canonical: bytes
    decision: str
    policy_version: str
    reason_code: str | None = None
    reason: str | None = None
    message_id: str | None = None
    kind: str | None = None
    sender_system: str | None = None
    sender_instance: str | None = None
    recipient_system: str | None = None
    recipient_municipality: str | None = None
    municipality: str | None = None
    procedure: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    key_id: str | None = None
    sent_at: datetime | None = None
    signature: str | None = None
    trace_id: str | None = None
    exchange: str | None = None
    routing_key: str | None = None
    department: str | None = None
    originated_by: str | None = None
    direction: str | None = None
    data_items: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def accepted(
    body: bytes, envelope: Envelope, policy_version: str, decision: Deliver | Hold
) -> JournalEntry:
    """The journal entry of a verified envelope (`body`, its bytes) the hub delivers or
    holds: keyed by its id, with every column the envelope fills. The one builder for a
    sender's envelope `triage` accepted and for the hub's own attestations and notices,
    which the desk journals, so both get the same columns (trace id, data items,
    originator, direction)."""
    fields = envelope_fields(envelope)
    if isinstance(decision, Hold):
        return JournalEntry(
            dedupe_key=f"id:{envelope.id}",
            canonical=body,
            decision="hold",
            policy_version=policy_version,
            reason_code=decision.code,
            reason=decision.reason,
            # Where it goes once released; no exchange, so no outbox row until then.
            routing_key=envelope.recipient.routing_key,
            department=decision.department,
            **fields,
        )
    return JournalEntry(
        dedupe_key=f"id:{envelope.id}",
        canonical=body,
        decision="deliver",
        policy_version=policy_version,
        exchange=DELIVER_EXCHANGE,
        routing_key=decision.routing_key,
        headers={HEADER_KIND: envelope.kind},
        **fields,
    )


def internal_error(body: bytes, policy_version: str, exc: BaseException) -> JournalEntry:
    """The refusal of a message the hub failed on: its exception class, nothing of the
    message but its bytes (a bug of ours, found on this input; the dead letter keeps it)."""
    return rejected(
        body,
        policy_version,
        "internal_error",
        f"the hub failed on this message ({type(exc).__name__}); nothing was delivered",
        {},
    )


# What a sender stamps anew each time it sends the same message (and the signature over
# them): a resend that differs only here is the same message, not a reuse of its id.
_RESTAMPED = frozenset({"sent_at", "traceparent", "signature"})


def same_message(received: bytes, journaled: bytes) -> bool:
    """True if two verified envelopes are one message sent twice: equal but for
    `sent_at`, `traceparent` and the signature."""
    if received == journaled:
        return True
    one, other = json.loads(received), json.loads(journaled)
    return {k: v for k, v in one.items() if k not in _RESTAMPED} == {
        k: v for k, v in other.items() if k not in _RESTAMPED
    }


def id_conflict(entry: JournalEntry) -> JournalEntry:
    """The refusal of a verified envelope whose id is journaled with other bytes: keyed by
    its own bytes, so the first message keeps its id and the sender hears of the reuse."""
    verified = {
        "message_id": entry.message_id,
        "kind": entry.kind,
        "sender_system": entry.sender_system,
        "municipality": entry.municipality,
        "key_id": entry.key_id,
        "sent_at": entry.sent_at,
        "signature": entry.signature,
    }
    return rejected(
        entry.canonical,
        entry.policy_version,
        "id_conflict",
        "id: already journaled with other content; an id names one message",
        verified,
    )


def rejected(
    body: bytes,
    policy_version: str,
    code: str,
    reason: str,
    fields: dict[str, Any],
    *,
    dedupe_key: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> JournalEntry:
    # Keyed by the bytes, not the claimed id: a forged or broken copy must never occupy the
    # id of a real message, and a sender may fix a rejected message and resend its id.
    reason = _printable(reason)
    fields = {name: _scrubbed(value) for name, value in fields.items()}
    return JournalEntry(
        dedupe_key=dedupe_key or bytes_key(body),
        canonical=body,
        decision="reject",
        policy_version=policy_version,
        reason_code=code,
        reason=reason,
        exchange=DEAD_EXCHANGE,
        routing_key=code,
        headers={HEADER_REASON_CODE: code, HEADER_REASON: reason, **(extra_headers or {})},
        **fields,
    )


_DIGIT_RUN = re.compile(r"[0-9]{12,}")


def _scrubbed(value: Any) -> Any:
    """`value`, or None if its text holds 12 digits in a row that pass the My Number check:
    a refusal's columns never repeat one, wherever the contract let its digits in (an
    instance name, a staff id, the last group of a UUID). Its bytes keep everything."""
    if not isinstance(value, str):
        return value
    for run in _DIGIT_RUN.findall(value):
        if any(looks_like_my_number(run[i : i + 12]) for i in range(len(run) - 11)):
            return None
    return value


def bytes_key(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _printable(reason: str) -> str:
    # The hub writes every reason itself; this only guarantees what the journal and an AMQP
    # header can take, whatever a bug might put there.
    return "".join(c if c.isprintable() else "?" for c in reason[:500])


def envelope_fields(envelope: Envelope) -> dict[str, Any]:
    return {
        "message_id": str(envelope.id),
        "kind": envelope.kind,
        "sender_system": envelope.sender.system.value,
        "sender_instance": envelope.sender.instance,
        "recipient_system": envelope.recipient.system.value,
        "recipient_municipality": str(envelope.recipient.municipality),
        "municipality": str(envelope.municipality),
        "procedure": str(envelope.procedure),
        "correlation_id": str(envelope.correlation_id),
        "causation_id": None if envelope.causation_id is None else str(envelope.causation_id),
        "key_id": envelope.key_id,
        "sent_at": envelope.sent_at,
        "signature": envelope.signature,
        "trace_id": envelope.traceparent[3:35] if envelope.traceparent else None,
        "originated_by": envelope.sender.operator,
        # Inquiries and provisions get a 情報提供等記録 (R47); transfers do not.
        "direction": _RECORDED_DIRECTIONS.get(envelope.kind),
        "data_items": ",".join(envelope.data_items),
    }
