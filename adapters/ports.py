"""Ports: what the adapters need from storage, as Protocols.

Each has a PostgreSQL implementation (`adapters/store/`) and an in-memory one (each
system's `memory.py`, the inbox's in `adapters/kit/stored.py`); `tests/integration/
test_system_stores.py` and `test_intermediate_stores.py` run one suite against both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol
from uuid import UUID

from contracts.codes import InternalPersonNumber, LinkageCode
from contracts.payloads import DoseHistoryItem, FukuhonRegistration

__all__ = [
    "PERMIT_COLUMNS",
    "RECORD_COLUMNS",
    "RESIDENT_COLUMNS",
    "TARGET_COLUMNS",
    "ActEntry",
    "ActLog",
    "AdapterInbox",
    "ApplicationEntry",
    "ApplicationLog",
    "FukuhonStore",
    "History",
    "InboxTransaction",
    "IntermediateBook",
    "LinkageRegistry",
    "NetworkBook",
    "ResidentRegister",
    "Row",
    "VrsBook",
    "in_date_order",
]

History = tuple[DoseHistoryItem, ...]
"""A 副本: one person's doses, in date order."""


def in_date_order(history: Iterable[DoseHistoryItem]) -> History:
    """A history as every 副本 store keeps and compares it: by date, kind, dose."""
    return tuple(sorted(history, key=lambda d: (d.administered_on, d.vaccine_type, d.dose_number)))


class InboxTransaction(Protocol):
    """An adapter's transaction around one delivery."""

    fresh: bool
    """True the first time this consumer sees the message; False for a redelivery."""

    async def record_effect(self, effect: str) -> None:
        """Write what the adapter did with the message, committed with the dedupe row."""
        ...

    def on_commit(self, action: Callable[[], None]) -> None:
        """Run `action` once the transaction has committed, never if it rolls back: what a
        handler counts of what it did is counted once, though it may run again."""
        ...


class AdapterInbox(Protocol):
    """An adapter's dedupe of deliveries, in the same transaction as its effect."""

    def first_time(
        self, consumer: str, message_id: str
    ) -> AbstractAsyncContextManager[InboxTransaction]:
        """Enter a transaction that dedupes `message_id` for `consumer`.

        The dedupe row commits with whatever the body of the `async with` does, and rolls
        back with it if the body raises, so a failed handler is retried on redelivery.
        """
        ...


class LinkageRegistry(Protocol):
    """Where an intermediate server keeps its 符号 ↔ 団体内統合宛名番号 mapping (F5)."""

    async def code_for(self, agency: str, person: InternalPersonNumber) -> LinkageCode | None:
        """The agency's code for the person, if one was issued."""
        ...

    async def person_for(self, agency: str, code: LinkageCode) -> InternalPersonNumber | None:
        """The person an agency's code stands for, if any."""
        ...

    async def put(
        self, agency: str, person: InternalPersonNumber, code: LinkageCode
    ) -> LinkageCode:
        """Record a new code; if the agency already has one for the person (a concurrent
        acquisition won), keep and return that one instead."""
        ...


class FukuhonStore(Protocol):
    """Where an intermediate server keeps the 副本 (F4)."""

    async def apply(self, registration: FukuhonRegistration) -> None:
        """Store (upsert) or remove (delete) one person's 副本 for a data item."""
        ...

    async def history(self, person: str, data_item: str) -> History | None:
        """One person's 副本, if registered (R45: content can be viewed)."""
        ...

    async def everything(self, data_item: str) -> Mapping[str, History]:
        """Every person's 副本 of a data item (for reconciliation, R46)."""
        ...


Row = Mapping[str, Any]
"""A row of a system's own table, by column name."""

# The columns a caller gives when it writes one of these rows, in the tables' order (the
# PostgreSQL and in-memory stores both take exactly these).
RESIDENT_COLUMNS = (
    "person",
    "basic_code",
    "resident_code",
    "my_number",
    "name",
    "name_kana",
    "birth_date",
    "sex",
    "address",
    "ticket_number",
    "ticket_issued_on",
    "status",
    "status_on",
)
RECORD_COLUMNS = (
    "record_id",
    "inquiry_id",
    "role",
    "inquirer",
    "provider",
    "procedure",
    "data_item",
    "requested_at",
    "provided_at",
    "outcome",
    "nondisclosure",
    "retention_until",
    "subject",
    "reply_id",
    "operator",
)
TARGET_COLUMNS = (
    "basic_code",
    "ticket_number",
    "my_number",
    "name",
    "name_kana",
    "birth_date",
    "sex",
    "address",
    "ticket_issued_on",
)
PERMIT_COLUMNS = (
    "permit_id",
    "inquiry_id",
    "inquirer",
    "provider",
    "procedure",
    "data_item",
    "issued_at",
    "expires_at",
    "correlation_id",
)


@dataclass(frozen=True, slots=True)
class ActEntry:
    """One line of an edge's act log: a row, who made it where, taken or refused and why."""

    line: int
    operator: str | None
    terminal: str | None
    outcome: str
    reason: str | None


class ActLog(Protocol):
    """An edge's act log (R29/R31): every row of its request files, who made it, where,
    taken or refused."""

    async def log(self, operation: str, file_sha256: str, entries: Sequence[ActEntry]) -> None:
        """Keep the entries of one file of one request folder; a line already kept stays."""
        ...


@dataclass(frozen=True, slots=True)
class ApplicationEntry:
    """One certificate application as the center keeps it (F17-F19): where it came from,
    who took it at the counter and how they checked the applicant, taken or refused and
    why, and then issued, refused by VRS or unanswered. Nothing of the person."""

    application_id: UUID
    channel: str
    terminal: str
    operator: str | None
    id_document: str | None
    id_checked_by: str | None
    id_checked_at: datetime | None
    outcome: str
    reason: str | None


class ApplicationLog(Protocol):
    """The certificate center's record of the applications it was sent."""

    async def log(self, entry: ApplicationEntry) -> None:
        """Keep one attempt: every application a terminal sent, each time it sent it."""
        ...

    async def known(self, application_id: UUID) -> bool:
        """Whether an application with this id was made already (taken or refused)."""
        ...


class ResidentRegister(Protocol):
    """The health-management system's residents (F1) and recorded doses (F3)."""

    async def put(self, resident: Row) -> tuple[bool, str | None]:
        """Insert or update one resident; (new?, status before)."""
        ...

    async def get(self, person: str) -> Row | None:
        """One resident by 団体内統合宛名番号."""
        ...

    async def by_basic_code(self, basic_code: str) -> Row | None:
        """One resident by 基本コード."""
        ...

    async def mark_coded(self, person: str) -> None:
        """Note that the 符号 acquisition information was sent (F5)."""
        ...

    async def mark_targeted(self, people: Sequence[str]) -> None:
        """Note that these people's targets and notices were sent (F11, F2)."""
        ...

    async def mark_flagged(self, person: str, status: str) -> None:
        """Note the status last flagged to VRS (F16)."""
        ...

    async def put_dose(self, person: str, dose: Row) -> None:
        """Record or correct one dose."""
        ...

    async def history(self, person: str) -> list[Row]:
        """A person's doses in date order."""
        ...

    async def histories(self) -> dict[str, list[Row]]:
        """Every person's doses in date order (for reconciliation, R46)."""
        ...


class IntermediateBook(Protocol):
    """The intermediate server's list copy, permits, inquiries and 情報提供等記録."""

    async def put_list(self, version: str, rows: list[Any]) -> None:
        """Keep a distributed list (F8)."""
        ...

    async def latest_list(self) -> tuple[str, list[Any]] | None:
        """The newest list received."""
        ...

    async def put_permit(self, permit_id: UUID, inquiry_id: UUID, permit: dict[str, Any]) -> None:
        """Keep a permit for an inquiry to this city."""
        ...

    async def permit(self, permit_id: UUID) -> dict[str, Any] | None:
        """A permit received."""
        ...

    async def put_inquiry(  # noqa: PLR0917 - one column each
        self, inquiry_id: UUID, person: str, provider: str, procedure: str, item: str, at: datetime
    ) -> None:
        """Remember an outbound inquiry (F6)."""
        ...

    async def inquiry(self, inquiry_id: UUID) -> Row | None:
        """An outbound inquiry, while kept."""
        ...

    async def set_state(self, inquiry_id: UUID, state: str) -> None:
        """Move an unfinished inquiry on."""
        ...

    async def finish(
        self, inquiry_id: UUID, state: str, result: dict[str, Any], at: datetime, until: datetime
    ) -> None:
        """Keep an inquiry's result until `until` (R42)."""
        ...

    async def purge(self, now: datetime, stale_before: datetime | None = None) -> list[UUID]:
        """Delete results whose time has come, and unfinished inquiries asked before
        `stale_before` (R42)."""
        ...

    async def record(self, **fields: Any) -> None:
        """Write or complete a 情報提供等記録 (R47)."""
        ...

    async def records_about(self, subject: str, limit: int) -> list[Row]:
        """The 情報提供等記録 about the person this agency's 符号 names that may be shown to
        them (none marked 不開示), newest first."""
        ...

    async def record_outcome(self, reply_id: UUID, outcome: str) -> bool:
        """Say what became of the reply `reply_id` this server provided (rejected,
        withheld) in its 情報提供等記録; False if no record names that reply."""
        ...

    async def put_attestation(self, held_message_id: UUID, content_sha256: str) -> None:
        """Keep the hub's word that a 所属長 approved a provider's held reply with this
        digest (R37); the first one kept stays."""
        ...

    async def attestation(self, held_message_id: UUID) -> str | None:
        """The approved digest of a provider's reply, if its approval arrived."""
        ...


class VrsBook(Protocol):
    """One city's part of VRS."""

    async def put_target(self, target: Row) -> None:
        """Register a person due and their ticket (F11)."""
        ...

    async def target(
        self, *, ticket: str | None = None, my_number: str | None = None
    ) -> Row | None:
        """A target by ticket or My Number."""
        ...

    async def set_status(self, basic_code: str, status: str, on: date) -> bool:
        """Flag a target (F16); False if unknown."""
        ...

    async def put_dose(self, ticket: str, number: int, dose: dict[str, Any], source: str) -> bool:
        """Record a dose once; False if already recorded."""
        ...

    async def doses(self, ticket: str) -> list[dict[str, Any]]:
        """A ticket's doses in order."""
        ...

    async def given_elsewhere(self, ticket: str) -> frozenset[int]:
        """The numbers of a ticket's doses another city gave (taken in on a transfer)."""
        ...

    async def unexported(self, limit: int) -> list[Row]:
        """Doses not yet exported (F13)."""
        ...

    async def mark_exported(self, keys: Sequence[tuple[str, int]]) -> None:
        """Note the doses an export carried."""
        ...

    async def put_transfer(self, inquiry_id: UUID, former: str, ticket: str | None) -> None:
        """Remember a transfer-in inquiry (F14)."""
        ...

    async def transfer(self, inquiry_id: UUID) -> Row | None:
        """A transfer-in inquiry sent from here."""
        ...

    async def transfer_answered(self, inquiry_id: UUID, state: str, doses: int) -> None:
        """Note the former city's answer."""
        ...


class NetworkBook(Protocol):
    """The network's 符号 directory and permits."""

    async def put_code(self, agency: str, code: str, individual: bytes) -> None:
        """Register an agency's 符号 for an individual (F5)."""
        ...

    async def convert(self, agency: str, code: str, to_agency: str) -> str | None:
        """Another agency's 符号 for the same individual."""
        ...

    async def put_permit(self, permit: Row) -> None:
        """Keep an issued permit (R30)."""
        ...

    async def permit(self, permit_id: UUID) -> Row | None:
        """A permit by id."""
        ...

    async def permit_by_correlation(self, correlation_id: UUID) -> Row | None:
        """The permit of the inquiry a reply belongs to."""
        ...

    async def answered(self, inquiry_id: UUID) -> None:
        """Note that the provider's reply passed."""
        ...
