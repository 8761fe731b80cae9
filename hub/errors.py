"""The hub's exception tree. Its first split decides what happens to the input message.

    HubError
    ├── Retryable                 transient: keep the message, retry, never ack or dead-letter
    │   ├── DatabaseUnavailable   PostgreSQL unreachable, connection dropped, failover
    │   │   └── JournalRefuses    the journal refuses even a content-free row: the database
    │   │                         (read-only, full, mis-migrated), not a message, is at fault
    │   └── BrokerUnavailable     an adapter's publish was refused, returned or unconfirmed
    ├── Conflict                  permanent: a write breaks a rule of the data (a unique or
    │                             reference constraint); the input is at fault, and trying
    │                             again gives the same answer
    └── SchemaNotCurrent          permanent: the database lacks migrations this code needs and
                                  the connecting role may not (or was told not to) apply
                                  them; a process stops at start until the admin migrates

The other side of the split, "the message itself is at fault", is not an exception the
hub raises: `contracts.signing.VerificationError` (each subclass with a reason `code`)
and routing's `Reject` decision both become a journal row with a reason code and a
dead-letter, never a retry. Broker failures while publishing are not raised either: the
row stays in the outbox and the relay sends it (hub/worker.py, PUBLISH_RETRYABLE).
"""

from __future__ import annotations

__all__ = [
    "BrokerUnavailable",
    "Conflict",
    "DatabaseUnavailable",
    "HubError",
    "JournalRefuses",
    "Retryable",
    "SchemaNotCurrent",
]


class HubError(Exception):
    """Base of every error the hub raises on purpose."""


class Retryable(HubError):
    """A transient failure of a dependency; the input message stays unacknowledged."""


class DatabaseUnavailable(Retryable):
    """PostgreSQL could not be reached or dropped the connection."""


class JournalRefuses(DatabaseUnavailable):
    """A write the journal refuses whatever the message: handled as an outage (nothing
    acked, consumption paused), since dead-lettering the batch would blame the messages."""


class BrokerUnavailable(Retryable):
    """RabbitMQ refused, returned or did not confirm an adapter's publish in time: what
    was to be sent is still where it came from, and is sent again later."""


class Conflict(HubError, ValueError):
    """A write the data's rules refuse; `constraint` names the rule, never the values."""

    def __init__(self, constraint: str) -> None:
        super().__init__(f"conflicts with {constraint}")
        self.constraint = constraint


class SchemaNotCurrent(HubError):
    """The database is behind the code: `missing` names the migrations not yet applied.
    Run-time roles never migrate (stack/roles.py); the place's admin does."""

    def __init__(self, database: str, missing: list[str], why: str) -> None:
        super().__init__(f"database {database} lacks migrations {', '.join(missing)}: {why}")
        self.database = database
        self.missing = missing
