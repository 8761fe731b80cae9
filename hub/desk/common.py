"""What the desk's parts share: refusals, the terminal, comment rules, and the base every
part builds on (store, hub signer, clock, the hub's own messages)."""

from __future__ import annotations

import getpass
import os
import socket
import unicodedata
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar
from uuid import UUID

from contracts.broker import DELIVER_EXCHANGE, HEADER_KIND
from contracts.codes import SystemId, masked_my_numbers, writes_my_number
from contracts.envelope import Envelope, Party, Recipient
from contracts.payloads import Payload
from contracts.signing import Signer
from hub.approvals import ApprovalRefused, Staff
from hub.desk.review import ReviewKeys, review_keys
from hub.entries import JournalEntry, accepted
from hub.log_review import ReviewRules
from hub.store.desk import DeskTransaction, PgDesk
from hub.store.rows import HeldMessage
from observability import tracing
from observability.metrics import Desk as DeskMetrics
from routing.decision import Deliver

__all__ = [
    "COMMENT_MAX",
    "FORBIDDEN_CODES",
    "HIDDEN_CODES",
    "HUB_ACTOR",
    "HUB_INSTANCE",
    "JOURNAL_SEALED",
    "DeskBase",
    "DeskError",
    "Forbidden",
    "NotAuthenticated",
    "NotFound",
    "Refused",
    "Terminal",
    "clean_comment",
    "cli_actor",
    "cli_terminal",
    "count_decisions",
    "message_uuid",
    "queue_release",
    "refusing",
    "unknown_message",
]

T = TypeVar("T")
HUB_ACTOR = "system:hub"
COMMENT_MAX = 500
JOURNAL_SEALED = "journal.sealed"
HUB_INSTANCE = "hub-desk"


class DeskError(Exception):
    """A request the desk refuses; `code` is stable, the message never holds personal data."""

    status = 400

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


class NotAuthenticated(DeskError):
    """No live session or token, or a disabled account."""

    status = 401


class Forbidden(DeskError):
    """Signed in, but not allowed this (role, municipality, department, permission)."""

    status = 403


class NotFound(DeskError):
    """No such held message."""

    status = 404


class Refused(DeskError):
    """The approval rules refuse the decision (four eyes, not held, expired, ...)."""

    status = 409


@dataclass(frozen=True, slots=True)
class Terminal:
    """Where a person acted from (R29): client address and user agent, as given by the
    client and so kept only in a bounded, filtered form (the session row and the audit
    log keep them for years): control characters dropped, any My Number written in them
    masked, cut to CLIENT_MAX and AGENT_MAX characters."""

    client: str
    agent: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "client", _bounded_text(self.client, CLIENT_MAX))
        object.__setattr__(self, "agent", _bounded_text(self.agent, AGENT_MAX))

    def as_dict(self) -> dict[str, str]:
        """For the audit row."""
        return {"client": self.client, "agent": self.agent}


CLIENT_MAX = 100
AGENT_MAX = 300


def _bounded_text(text: str, limit: int) -> str:
    printable = "".join(c for c in text if unicodedata.category(c)[0] != "C")
    return masked_my_numbers(printable)[:limit]


def cli_terminal() -> Terminal:
    """The terminal of a command-line act: this host, and the OS user running it."""
    return Terminal(f"cli@{socket.gethostname()}", f"sesshu ({cli_actor()})")


def cli_actor() -> str:
    """Who an account change made from the command line is recorded as: the OS user."""
    try:
        return "os:" + getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for this uid
        return f"os:uid-{os.getuid()}"


def clean_comment(comment: str | None) -> str | None:
    """An approver's comment, stripped; refused if too long, if it holds control
    characters, or if it holds anything that looks like a My Number (comments go into the
    audit log and the attestation, where personal data must not)."""
    if comment is None or not comment.strip():
        return None
    text = comment.strip()
    if len(text) > COMMENT_MAX:
        raise DeskError("invalid_comment", f"comment: at most {COMMENT_MAX} characters")
    if any(ord(c) < 32 and c not in "\n\t" for c in text):
        raise DeskError("invalid_comment", "comment: control characters are not allowed")
    if writes_my_number(text):  # however written: full-width, grouped by hyphens, ...
        raise DeskError("invalid_comment", "comment: must not contain a My Number")
    return text


def unknown_message() -> NotFound:
    """The answer for a held message that does not exist, or that the asker may not know
    of (another municipality's or department's): the same, so it tells neither apart."""
    return NotFound("not_found", "no held message with that id")


def _uuid_or_none(value: str) -> str | None:
    try:
        return str(UUID(value))
    except ValueError:
        return None


def message_uuid(value: str) -> str:
    try:
        return str(UUID(value))
    except ValueError:
        raise unknown_message() from None


def refusing(decide: Callable[[], T]) -> T:
    try:
        return decide()
    except ApprovalRefused as exc:
        if exc.code in HIDDEN_CODES:
            raise unknown_message() from None
        status = Forbidden if exc.code in FORBIDDEN_CODES else Refused
        raise status(exc.code, exc.reason) from None


FORBIDDEN_CODES = frozenset(
    {
        "account_disabled",
        "not_an_approver",
        "not_an_operator",
        "wrong_municipality",
        "wrong_department",
        "four_eyes",
    }
)
HIDDEN_CODES = frozenset({"wrong_municipality", "wrong_department"})
"""Refusals about one message that would tell whoever may not see it that it exists: they
are answered as an unknown id is (`unknown_message`)."""


async def queue_release(tx: DeskTransaction, message: HeldMessage, kind: str) -> None:
    """Queue a held row's journaled bytes to the deliver exchange as they were sent, the
    publish continuing the deciding request's trace (which links to the held message's,
    so a two-day hold is not one two-day span)."""
    row = message.row
    headers = {HEADER_KIND: kind}
    traceparent = tracing.traceparent_of()
    if traceparent is not None:
        headers[tracing.TRACEPARENT] = traceparent
    await tx.release(row.journal_seq, row.message_id, DELIVER_EXCHANGE, row.routing_key, headers)


def count_decisions(outcome: str, first: HeldMessage, at: datetime, rows: int = 1) -> None:
    """The desk's decision metrics: `rows` decided with `outcome`, the wait from when the
    first of them was held."""
    DeskMetrics.decisions.labels(outcome).inc(rows)
    DeskMetrics.wait.labels(outcome).observe(max(0.0, (at - first.row.held_at).total_seconds()))


def hold_no_review_keys() -> ReviewKeys:
    """A desk that holds no review key: every review copy is unreadable to it."""
    return review_keys(None)


class DeskBase:
    """The store, the hub's signer, the policy version and the clock, for every part."""

    def __init__(
        self,
        store: PgDesk,
        signer: Signer | None,
        *,
        policy_version: str,
        session_seconds: float = 8 * 3600,
        idle_seconds: float = 15 * 60,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        review_keys: ReviewKeys | None = None,
        review_rules: ReviewRules | None = None,
    ) -> None:
        # `review_keys`: the desk's private review keys, which open the review copies of
        # held provisions (hub.desk.review); none, and no copy can be read.
        # `review_rules`: what the review of the audit trail judges by (R17).
        self.store = store
        self.review_rules = review_rules or ReviewRules()
        self._signer = signer
        self._review_keys = review_keys or hold_no_review_keys()
        self._policy_version = policy_version
        self._session_seconds = session_seconds
        self._idle_seconds = idle_seconds
        self._now = clock

    @asynccontextmanager
    async def _refusal_audited(
        self,
        who: Staff,
        action: str,
        terminal: Terminal | None,
        message_id: str | None = None,
        act: str | None = None,
    ) -> AsyncIterator[None]:
        """Audit a refusal of the act inside the block (R17) as `action`, the refusal's
        code its reason (and which `act` of several the action covers), in a transaction
        of its own (the act's rolled back); never the request's text (a comment, a
        mistyped id), only a message id that is a UUID."""
        try:
            yield
        except DeskError as refused:
            async with self.store.transaction() as tx:
                await tx.audit(
                    at=self._now(),
                    actor=who.user_id,
                    action=action,
                    subject=None if message_id is None else _uuid_or_none(message_id),
                    municipality=who.municipality,
                    terminal=None if terminal is None else terminal.as_dict(),
                    detail={"reason": refused.code} | ({} if act is None else {"act": act}),
                )
            raise

    def _hub_signer(self) -> Signer:
        if self._signer is None:
            raise DeskError(
                "no_hub_key", "the hub has no signing key (SESSHU_SIGNING__HUB_KEY_FILE)"
            )
        return self._signer

    def _hub_envelope(
        self,
        signer: Signer,
        original: Envelope,
        payload: Payload,
        recipient: Recipient,
        now: datetime,
    ) -> Envelope:
        envelope = Envelope.new(
            payload=payload,
            municipality=original.municipality,
            sender=Party(system=SystemId.HUB, instance=HUB_INSTANCE),
            recipient=recipient,
            procedure=original.procedure,
            data_items=original.data_items,
            key_id=signer.key_id,
            correlation_id=original.correlation_id,
            causation_id=original.id,
            traceparent=original.traceparent,
            sent_at=now,
        )
        return signer.sign(envelope)

    def _journal_entry(self, envelope: Envelope) -> JournalEntry:
        """The hub's own message, journaled as the pipeline journals what it delivers."""
        routing_key = envelope.recipient.routing_key
        return accepted(envelope.to_bytes(), envelope, self._policy_version, Deliver(routing_key))
