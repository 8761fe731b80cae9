"""The hub's exception tree. Its first split decides what happens to the input message.

    HubError
    ├── Retryable                 transient: keep the message, retry, never ack or dead-letter
    │   ├── BrokerUnavailable     RabbitMQ connection or channel lost, publish timed out
    │   └── DatabaseUnavailable   PostgreSQL unreachable, connection dropped, failover
    └── Permanent                 the message itself is at fault: journal it, dead-letter it
        ├── Rejected              a decision with a reason code (see REASON_CODES)
        └── Unroutable            the broker returned a mandatory publish: no queue is bound

Verification failures come from `contracts.signing` (`VerificationError` and its
subclasses, each with a `code`); the worker turns them into `Rejected` decisions, so a
contract error is permanent by construction.
"""

from __future__ import annotations

__all__ = [
    "BrokerUnavailable",
    "DatabaseUnavailable",
    "HubError",
    "Permanent",
    "Rejected",
    "Retryable",
    "Unroutable",
]


class HubError(Exception):
    """Base of every error the hub raises on purpose."""


class Retryable(HubError):
    """A transient failure of a dependency; the input message stays unacknowledged."""


class BrokerUnavailable(Retryable):
    """RabbitMQ could not be reached, or a publish was not confirmed in time."""


class DatabaseUnavailable(Retryable):
    """PostgreSQL could not be reached or dropped the connection."""


class Permanent(HubError):
    """The message is at fault; retrying cannot help."""


class Rejected(Permanent):
    """A message refused with a stable reason code."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


class Unroutable(Permanent):
    """The broker could not route a mandatory publish to any queue."""
