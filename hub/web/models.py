"""The JSON bodies of the approval desk's API (`hub.web.api`): what it reads and what it
answers, each answer built from the desk's own records."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field

from hub.approvals import Held, HeldState, Staff
from hub.desk import HeldView, ProvisionDirection, ProvisionState
from hub.web.params import printable

__all__ = [
    "Account",
    "Approval",
    "AuditEntry",
    "Decided",
    "HeldDetail",
    "HeldPage",
    "HeldSummary",
    "LoginRequest",
    "LoginResponse",
    "ProvisionRecord",
    "Rejection",
    "Revealed",
]


class LoginRequest(BaseModel):
    """Credentials of a person."""

    user_id: Annotated[str, AfterValidator(printable)] = Field(max_length=64)
    password: str = Field(max_length=1024)


class Account(BaseModel):
    """Who is signed in."""

    user_id: str
    roles: list[str]
    municipality: str
    department: str
    may_reveal: bool

    @classmethod
    def of(cls, staff: Staff) -> Account:
        """From the desk's account."""
        return cls(
            user_id=staff.user_id,
            roles=sorted(r.value for r in staff.roles),
            municipality=staff.municipality,
            department=staff.department,
            may_reveal=staff.may_reveal,
        )


class LoginResponse(BaseModel):
    """A new session: the token doubles as a bearer token; the cookie carries it too."""

    token: str
    account: Account


class HeldSummary(BaseModel):
    """A held message in a list (no content)."""

    message_id: str
    state: HeldState
    reason_code: str
    department: str
    routing_key: str
    kind: str | None
    procedure: str | None
    sender_system: str | None
    held_at: datetime
    expires_at: datetime
    decided_by: str | None
    decided_at: datetime | None


class HeldPage(BaseModel):
    """A page of held messages and the total that match."""

    total: int
    items: list[HeldSummary]


class ReviewDetail(BaseModel):
    """A held provision's review copy as its approver reads it (R37): labelled parts, My
    Number masked, and the digest an approval must name."""

    asks: list[tuple[str, str]]
    subject: list[tuple[str, str]]
    items: list[list[tuple[str, str]]]
    outcome: str
    document: dict[str, Any]


class HeldDetail(BaseModel):
    """A held message as its viewer may see it: its facts; for its approvers, its review
    copy too (My Number masked), or why that cannot be read."""

    message_id: str
    state: HeldState
    reason_code: str
    department: str
    municipality: str
    routing_key: str
    held_at: datetime
    expires_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    comment: str | None
    content_sha256: str | None
    masked_fields: list[str]
    envelope: dict[str, Any]
    review: ReviewDetail | None
    unreadable: str | None

    @classmethod
    def of(cls, view: HeldView) -> HeldDetail:
        """From the desk's masked view."""
        row = view.row
        return cls(
            message_id=row.message_id,
            state=row.state,
            reason_code=row.reason_code,
            department=row.department,
            municipality=row.municipality,
            routing_key=row.routing_key,
            held_at=row.held_at,
            expires_at=row.expires_at,
            decided_by=row.decided_by,
            decided_at=row.decided_at,
            comment=row.comment,
            content_sha256=view.content_sha256,
            masked_fields=list(view.masked_paths),
            envelope=view.envelope,
            review=None
            if view.review is None
            else ReviewDetail(
                asks=view.review.asks,
                subject=view.review.subject,
                items=view.review.items,
                outcome=view.review.outcome,
                document=view.review.document,
            ),
            unreadable=view.unreadable,
        )


class Approval(BaseModel):
    """An approval: the content hash the approver was shown, and an optional comment."""

    content_sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description="the content_sha256 shown with the message; refused if it differs",
    )
    comment: str | None = Field(default=None, max_length=500)


class Rejection(BaseModel):
    """A rejection: the reason, required."""

    comment: str = Field(min_length=1, max_length=500)


class Decided(BaseModel):
    """The outcome of a decision."""

    message_id: str
    state: HeldState
    decided_by: str | None
    decided_at: datetime | None

    @classmethod
    def of(cls, held: Held) -> Decided:
        """From the desk's answer."""
        return cls(
            message_id=held.message_id,
            state=held.state,
            decided_by=held.decided_by,
            decided_at=held.decided_at,
        )


class Revealed(BaseModel):
    """The full My Numbers of a held message, by field path."""

    fields: dict[str, str]


class AuditEntry(BaseModel):
    """One audit row."""

    seq: int
    at: datetime
    actor: str
    action: str
    subject: str | None
    municipality: str | None
    terminal: dict[str, Any] | None
    detail: dict[str, Any]
    hash: str


class ProvisionRecord(BaseModel):
    """One 情報提供等記録 (R47)."""

    message_id: str
    correlation_id: str
    direction: ProvisionDirection
    kind: str
    procedure: str
    data_items: list[str]
    inquirer_system: str
    inquirer_municipality: str
    provider_system: str
    provider_municipality: str
    requested_at: datetime
    provided_at: datetime | None
    state: ProvisionState
    nondisclosure: bool
    retention_until: date


class ImportSummary(BaseModel):
    """A manual import held for its checks and sign-off (R01), without its content."""

    batch: str = Field(description="the batch's id: the correlation id its rows share")
    rows: int
    originated_by: str | None = Field(description="the staff account that imported it")
    held_at: datetime
    expires_at: datetime
    kind: str
    procedure: str
    checked_by: list[str] = Field(description="the operators who have checked every row")


class ImportList(BaseModel):
    """The manual imports waiting in the caller's municipality and department."""

    checks_needed: int = Field(description="operators' checks a batch needs before its sign-off")
    items: list[ImportSummary]


class ImportCheck(BaseModel):
    """An operator's check of a manual import: the rows they were shown."""

    rows: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description="the rows of the batch as shown; refused (batch_changed) if it holds more "
        "or fewer now (rows may still be arriving)",
    )


class SignOff(ImportCheck):
    """A 所属長's sign-off of a checked manual import, with an optional comment."""

    comment: str | None = Field(default=None, max_length=500)


class ImportDecided(BaseModel):
    """What a check or a sign-off did: the batch and how many of its rows."""

    batch: str
    rows: int
