"""`decide(envelope, policy, context) -> Deliver | Hold | Reject`: pure, no I/O.

This is the pass-through policy the pipeline runs on until the permitted-inquiry list
arrives (routing issue): deliver to the recipient's queue when one exists, else reject as
unroutable. The decision types and the signature are the ones the real policy keeps.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts.envelope import Envelope

__all__ = ["Context", "Decision", "Deliver", "Hold", "Policy", "Reject", "decide"]


@dataclass(frozen=True, slots=True)
class Deliver:
    """Send the envelope to `<system>.<municipality>` on the delivery exchange."""

    routing_key: str


@dataclass(frozen=True, slots=True)
class Hold:
    """Keep the envelope until an approver releases it."""

    code: str
    reason: str


@dataclass(frozen=True, slots=True)
class Reject:
    """Refuse the envelope; `code` is the stable reason code journaled and dead-lettered."""

    code: str
    reason: str


Decision = Deliver | Hold | Reject


@dataclass(frozen=True, slots=True)
class Policy:
    """A routing policy and the version every decision made under it records."""

    version: str = "pass-through-1"


@dataclass(frozen=True, slots=True)
class Context:
    """What the decision may know of the world: the delivery keys that have a queue."""

    destinations: frozenset[str]


def decide(envelope: Envelope, policy: Policy, context: Context) -> Decision:
    """Deliver to the recipient's queue if it exists; otherwise reject as unroutable."""
    key = envelope.recipient.routing_key
    if key not in context.destinations:
        return Reject("unroutable", f"no adapter queue for {key}")
    return Deliver(key)
