"""情報提供等記録 (R47): what each side of an inquiry keeps of it, seven years.

The inquirer's server writes its record when it sends the inquiry ("sent") and completes
it when the result comes, and hands health management a `ProvisionRecord` of it; the
provider's server writes its own when it answers. Each side's record has an id of its
own, the same every time it is written (`reply_id_for`), so a record written again on a
redelivery completes the one there.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from adapters.ports import Row
from contracts.envelope import Envelope, stable_message_id
from contracts.payloads import InquiryRequest, ProvisionRecord

__all__ = [
    "OUTCOME_OF_NOTICE",
    "RETENTION",
    "inquiry_record",
    "provision_record",
    "record_fields",
    "reply_id_for",
]

RETENTION = timedelta(days=7 * 365)  # 情報提供等記録 are kept seven years (R47)
_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def reply_id_for(inquiry_id: UUID, role: str) -> UUID:
    """The 情報提供等記録 id of one side of an inquiry: the same every time it is written."""
    return stable_message_id(inquiry_id.bytes + role.encode(), _EPOCH)


def record_fields(
    inquiry_id: UUID,
    role: str,
    asked: Row,
    *,
    city: str,
    now: datetime | None,
    outcome: str,
    subject: str | None = None,
    reply_id: UUID | None = None,
    nondisclosure: bool = False,
    operator: str | None = None,
) -> dict[str, Any]:
    """The record `city` keeps as the `role` side of an inquiry, as the book's columns;
    `asked` names the other side, the procedure, the data item and when it was asked;
    `subject` is the person asked about by this agency's 符号 (never a My Number), and
    `reply_id` the provider's reply, so the record can say what became of it; `operator`
    the staff account that made the inquiry (R16), where a person did."""
    inquirer, provider = (
        (city, asked["provider"]) if role == "inquirer" else (asked["inquirer"], city)
    )
    requested = asked["requested_at"]
    return {
        "record_id": reply_id_for(inquiry_id, role),
        "inquiry_id": inquiry_id,
        "role": role,
        "inquirer": inquirer,
        "provider": provider,
        "procedure": asked["procedure"],
        "data_item": asked["data_item"],
        "requested_at": requested,
        "provided_at": now,
        "outcome": outcome,
        "nondisclosure": nondisclosure,
        "retention_until": (requested + RETENTION).date(),
        "subject": subject,
        "reply_id": reply_id,
        "operator": operator,
    }


def inquiry_record(
    envelope: Envelope,
    inquiry: InquiryRequest,
    role: str,
    *,
    city: str,
    outcome: str,
    subject: str | None = None,
    reply_id: UUID | None = None,
    nondisclosure: bool = False,
) -> dict[str, Any]:
    """The record of the inquiry `envelope` carries, written as it is sent (inquirer) or
    answered (provider, with the time it was provided, and its reply's id). The
    inquirer's names the staff account that asked (`sender.operator`, R16)."""
    other = inquiry.provider if role == "inquirer" else inquiry.inquirer
    asked = {
        "provider": str(other),
        "inquirer": str(other),
        "procedure": envelope.procedure,
        "data_item": envelope.data_items[0],
        "requested_at": envelope.sent_at,
    }
    provided = datetime.now(UTC) if role == "provider" else None
    return record_fields(
        inquiry.inquiry_id,
        role,
        asked,
        city=city,
        now=provided,
        outcome=outcome,
        subject=subject,
        reply_id=reply_id,
        nondisclosure=nondisclosure,
        operator=envelope.sender.operator if role == "inquirer" else None,
    )


OUTCOME_OF_NOTICE = {"rejected_by_approver": "rejected", "approval_expired": "withheld"}
"""What a provider's record says when the hub's rejection notice for its reply gives this
reason code (a 所属長 rejected it; nobody approved it in time): its reply never reached the
inquirer."""


def provision_record(
    inquiry_id: UUID, asked: Row, *, city: str, now: datetime, nondisclosure: bool = False
) -> ProvisionRecord:
    """The inquirer's record as health management gets it with the result (R47)."""
    return ProvisionRecord(
        nondisclosure=nondisclosure,
        record_id=reply_id_for(inquiry_id, "inquirer"),
        inquiry_id=inquiry_id,
        role="inquirer",
        inquirer=city,
        provider=asked["provider"],
        requested_at=asked["requested_at"],
        provided_at=now,
        retention_until=(now + RETENTION).date(),
    )
