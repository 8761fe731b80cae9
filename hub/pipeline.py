"""The pure half of the hub: from received bytes to a journal entry with its decision.

`triage` reads the bytes within limits, verifies the signature, validates the contract,
checks the tenant and freshness (all in `contracts.signing.parse_and_verify`), and asks
`routing.decide`. It does no I/O, so the whole decision path is tested without a broker or
a database, and it never raises: whatever the bytes hold, the answer is one entry
(`hub.entries`, which builds the entry of each outcome).

A refusal's columns hold only what is safe to keep: the reason the hub wrote (a field path
and a rule, never a value); until the signature verifies, a kind from the list of kinds and
a key id the ring knows; after that, what the known sender signed, less any text holding
twelve digits that pass the My Number check. Everything else stays in the received bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, get_args

from contracts.broker import HEADER_RECEIVED_BYTES
from contracts.canonical import UUID_FORM
from contracts.codes import CodeError, LocalGovCode
from contracts.keys import KeyRing
from contracts.payloads import MessageKind
from contracts.signing import Freshness, OversizedEnvelope, VerificationError, parse_and_verify
from contracts.wire import WireLimits
from hub.entries import (
    JournalEntry,
    accepted,
    bytes_key,
    envelope_fields,
    internal_error,
    rejected,
)
from routing.decision import Context, Reject, decide
from routing.policy import Policy

__all__ = ["Triage", "triage"]


@dataclass(frozen=True, slots=True)
class Triage:
    """What the pipeline needs besides the bytes: keys, clock window and policy."""

    ring: KeyRing
    freshness: Freshness
    policy: Policy
    context: Context
    limits: WireLimits = field(default_factory=WireLimits)

    def __call__(self, body: bytes, now: datetime, routing_key: str | None = None) -> JournalEntry:
        """Decide one received message (published with `routing_key`, when known)."""
        return triage(body, self, now, routing_key)


def triage(
    body: bytes, setup: Triage, now: datetime, routing_key: str | None = None
) -> JournalEntry:
    """Verify, validate and decide one received message. A message published under another
    routing key than its kind is refused: the broker's topic permissions are on that key,
    so a key that lies about the kind would slip past them.

    Never raises: a failure of the hub's own code on some input (a bug) is an
    `internal_error` refusal of that input, so no message can stop the worker."""
    try:
        return _triage(body, setup, now, routing_key)
    except Exception as exc:  # the promise above; the class is journaled, never the content
        return internal_error(body, setup.policy.version, exc)


def _triage(body: bytes, setup: Triage, now: datetime, routing_key: str | None) -> JournalEntry:
    try:
        envelope, _ = parse_and_verify(
            body, setup.ring, now=now, freshness=setup.freshness, limits=setup.limits
        )
    except OversizedEnvelope as exc:
        # Only what fits the limit is kept; the hash in the dedupe key covers all of it.
        return rejected(
            body[: setup.limits.max_bytes],
            setup.policy.version,
            exc.code,
            str(exc),
            {},
            dedupe_key=bytes_key(body),
            extra_headers={HEADER_RECEIVED_BYTES: str(len(body))},
        )
    except VerificationError as exc:
        return rejected(body, setup.policy.version, exc.code, str(exc), _claimed(exc, setup))
    if routing_key is not None and routing_key != envelope.kind:
        reason = "routing key: must be the envelope's kind (contracts/README.md, AMQP)"
        fields = envelope_fields(envelope)
        return rejected(body, setup.policy.version, "contract_invalid", reason, fields)
    decision = decide(envelope, setup.policy, setup.context)
    if isinstance(decision, Reject):
        fields = envelope_fields(envelope)
        return rejected(body, setup.policy.version, decision.code, decision.reason, fields)
    return accepted(body, envelope, setup.policy.version, decision)


_KINDS = frozenset(get_args(MessageKind))


def _claimed(exc: VerificationError, setup: Triage) -> dict[str, Any]:
    """What the journal may keep of a refused message: values from closed sets (a kind, a
    key the ring knows) and, once the signature verified, what the known sender signed."""
    document = exc.document
    if document is None:
        return {}
    claimed: dict[str, Any] = {}
    kind, key_id = document.get("kind"), document.get("key_id")
    if isinstance(kind, str) and kind in _KINDS:
        claimed["kind"] = kind
    if isinstance(key_id, str) and setup.ring.get(key_id) is not None:
        claimed["key_id"] = key_id
    signer = exc.signed_by
    if signer is None:
        return claimed
    claimed["sender_system"] = signer.system.value
    message_id = document.get("id")
    if isinstance(message_id, str) and UUID_FORM.fullmatch(message_id):
        claimed["message_id"] = message_id
    claimed["municipality"] = _code_or(document.get("municipality"), signer.municipality)
    return claimed


def _code_or(value: object, fallback: str | None) -> str | None:
    try:
        return str(LocalGovCode(value))
    except CodeError:
        return None if fallback is None else str(fallback)
