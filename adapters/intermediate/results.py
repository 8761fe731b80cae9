"""The inquirer's side of F6/F7: the sealed reply is opened with this intermediate
server's own key and handed to health management as an inquiry result that carries its
deletion time (R42: finished or interrupted results are deleted after a set period)."""

from __future__ import annotations

from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from contracts.codes import InternalPersonNumber
from contracts.envelope import Envelope
from contracts.payloads import InquiryResult, ProvisionResponse, RejectionNotice, SealedPayload
from contracts.sealing import open_sealed

__all__ = ["interrupted", "opened_result", "result_of"]


def result_of(
    response: ProvisionResponse,
    *,
    person: InternalPersonNumber | str,
    now: datetime,
    keep_for: timedelta,
) -> InquiryResult:
    """The inquiry result an opened reply makes, with its deletion time (R42)."""
    return InquiryResult.model_validate(
        {
            "inquiry_id": response.inquiry_id,
            "person": person,
            "status": response.status,
            "history": response.history,
            "delete_after": now + keep_for,
        }
    )


def opened_result(
    reply: Envelope,
    *,
    private_key: X25519PrivateKey,
    person: InternalPersonNumber,
    now: datetime,
    keep_for: timedelta,
) -> InquiryResult:
    """The result of an inquiry from the provider's sealed reply (SealError if it is not
    sealed to this server)."""
    if not isinstance(reply.payload, SealedPayload):
        raise ValueError("payload: a provision must arrive sealed (R43)")
    response = open_sealed(
        reply.payload, private_key=private_key, envelope_id=reply.id, kind=reply.kind
    )
    if not isinstance(response, ProvisionResponse):
        raise ValueError(f"payload: a {response.kind} is not a provision")
    return result_of(response, person=person, now=now, keep_for=keep_for)


def interrupted(
    notice: RejectionNotice,
    *,
    inquiry_id: object,
    person: InternalPersonNumber,
    now: datetime,
    keep_for: timedelta,
) -> InquiryResult:
    """The result of an inquiry whose reply a 所属長 rejected (refused) or nobody approved
    in time (withheld) on the way (R37)."""
    status = "refused" if notice.reason_code == "rejected_by_approver" else "withheld"
    return InquiryResult.model_validate(
        {
            "inquiry_id": inquiry_id,
            "person": person,
            "status": status,
            "history": (),
            "delete_after": now + keep_for,
        }
    )
