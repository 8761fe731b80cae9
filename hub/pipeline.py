"""The pure half of the hub: from received bytes to a journal entry with its decision.

`triage` verifies the signature, validates the contract, checks the tenant and freshness
(all in `contracts.signing.parse_and_verify`), and asks `routing.decide`. It does no I/O,
so the whole decision path is tested without a broker or a database.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from contracts.broker import (
    DEAD_EXCHANGE,
    DELIVER_EXCHANGE,
    HEADER_KIND,
    HEADER_REASON,
    HEADER_REASON_CODE,
)
from contracts.envelope import Envelope
from contracts.keys import KeyRing
from contracts.signing import Freshness, VerificationError, parse_and_verify
from routing.decision import DIRECTION_OF, Context, Deliver, Hold, Reject, decide
from routing.policy import Policy

__all__ = ["JournalEntry", "Triage", "triage"]


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


@dataclass(frozen=True, slots=True)
class Triage:
    """What the pipeline needs besides the bytes: keys, clock window and policy."""

    ring: KeyRing
    freshness: Freshness
    policy: Policy
    context: Context

    def __call__(self, body: bytes, now: datetime) -> JournalEntry:
        """Decide one received message."""
        return triage(body, self, now)


def triage(body: bytes, setup: Triage, now: datetime) -> JournalEntry:
    """Verify, validate and decide one received message; never raises for bad input."""
    try:
        envelope, _ = parse_and_verify(body, setup.ring, now=now, freshness=setup.freshness)
    except VerificationError as exc:
        return _rejected(body, setup.policy, exc.code, str(exc), _claimed(body))
    decision = decide(envelope, setup.policy, setup.context)
    fields = _envelope_fields(envelope)
    if isinstance(decision, Reject):
        return _rejected(body, setup.policy, decision.code, decision.reason, fields)
    if isinstance(decision, Hold):
        return JournalEntry(
            dedupe_key=f"id:{envelope.id}",
            canonical=body,
            decision="hold",
            policy_version=setup.policy.version,
            reason_code=decision.code,
            reason=decision.reason,
            # Where it goes once released; no exchange, so no outbox row until then.
            routing_key=envelope.recipient.routing_key,
            department=decision.department,
            **fields,
        )
    if not isinstance(decision, Deliver):  # pragma: no cover - Decision has three members
        raise TypeError(f"unknown decision {decision!r}")
    return JournalEntry(
        dedupe_key=f"id:{envelope.id}",
        canonical=body,
        decision="deliver",
        policy_version=setup.policy.version,
        exchange=DELIVER_EXCHANGE,
        routing_key=decision.routing_key,
        headers={HEADER_KIND: envelope.kind},
        **fields,
    )


def _rejected(
    body: bytes, policy: Policy, code: str, reason: str, fields: dict[str, Any]
) -> JournalEntry:
    # Keyed by the bytes, not the claimed id: a forged or broken copy must never occupy the
    # id of a real message, and a sender may fix a rejected message and resend its id.
    return JournalEntry(
        dedupe_key="sha256:" + hashlib.sha256(body).hexdigest(),
        canonical=body,
        decision="reject",
        policy_version=policy.version,
        reason_code=code,
        reason=reason,
        exchange=DEAD_EXCHANGE,
        routing_key=code,
        headers={HEADER_REASON_CODE: code, HEADER_REASON: reason[:500]},
        **fields,
    )


def _envelope_fields(envelope: Envelope) -> dict[str, Any]:
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


_CLAIMED_TEXT = ("kind", "key_id")


def _claimed(body: bytes) -> dict[str, Any]:
    """What a refused message claims about itself, for the journal; never trusted."""
    try:
        document = json.loads(body)
    except ValueError:
        return {}
    if not isinstance(document, dict):
        return {}
    claimed = {name: _short(document.get(name)) for name in _CLAIMED_TEXT}
    sender = document.get("sender")
    if isinstance(sender, dict):
        claimed["sender_system"] = _short(sender.get("system"))
    claimed["municipality"] = _short(document.get("municipality"))
    claimed["message_id"] = _uuid_or_none(document.get("id"))
    return {k: v for k, v in claimed.items() if v is not None}


def _short(value: object) -> str | None:
    # Claimed strings go into indexed journal columns; keep them short and printable.
    if isinstance(value, str) and value.isprintable() and len(value) <= 64:
        return value
    return None


def _uuid_or_none(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(UUID(value))
    except ValueError:
        return None
