"""What the network carries between two intermediate servers under a permit it issued.

The permit as the network keeps it (`permit_row`, R30), why an inquiry may not be carried
under it (`permit_problem`, R30, R36), the provider's sealed reply readdressed to the
inquirer unopened (`carried`, R43), and the withheld answer the inquirer gets instead
when that reply was rejected or expired unapproved (`withheld`, R37). `bridge.Network`
sends what these make.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from adapters.kit.bridge import Bridge
from adapters.kit.handlers import reply_id
from adapters.kit.sealed import addressed
from adapters.ports import Row
from contracts.codes import SystemId
from contracts.envelope import Declaration, Envelope, Party, Recipient
from contracts.payloads import InquiryRequest, ProvisionPermit, ProvisionResponse, SealedPayload

__all__ = ["carried", "permit_problem", "permit_row", "withheld"]


def permit_row(permit: ProvisionPermit, envelope: Envelope) -> dict[str, Any]:
    """The permit as the network keeps it, with the route of the inquiry that asked."""
    return permit.model_dump() | {
        "inquirer": str(permit.inquirer),
        "provider": str(permit.provider),
        "procedure": envelope.procedure,
        "data_item": envelope.data_items[0],
        "correlation_id": envelope.correlation_id,
    }


def permit_problem(permit: Row | None, inquiry: InquiryRequest, envelope: Envelope) -> str | None:
    """Why the network will not carry an inquiry under this permit (R30, R36), if so."""
    if permit is None or permit["inquiry_id"] != inquiry.inquiry_id:
        return "permit_mismatch"
    parties = (permit["inquirer"], permit["provider"])
    if parties != (str(inquiry.inquirer), str(inquiry.provider)):
        return "permit_mismatch"
    if (permit["procedure"], permit["data_item"]) != (envelope.procedure, envelope.data_items[0]):
        return "permit_mismatch"
    if not permit["issued_at"] <= datetime.now(UTC) < permit["expires_at"]:
        return "permit_expired"
    return None


def carried(reply: Envelope, inquirer: str, bridge: Bridge) -> Envelope:
    """The provider's sealed reply as the network sends it on to the inquirer's server,
    from `bridge` (the instance of the inquirer's city): the payload untouched (R43)."""
    return Envelope.new(
        payload=reply.payload,
        declared=reply.declared,
        kind=reply.kind,
        message_id=reply_id(reply, "carry"),
        municipality=inquirer,
        sender=Party(system=SystemId.NWS, instance=bridge.instance),
        recipient=Recipient(system=SystemId.INTERMEDIATE, municipality=inquirer),
        procedure=reply.procedure,
        data_items=reply.data_items,
        key_id=bridge.signer.key_id,
        correlation_id=reply.correlation_id,
        causation_id=reply.id,  # the envelope the reply was sealed under
    )


def withheld(permit: Row, rejection: Envelope, bridge: Bridge) -> tuple[SealedPayload, Declaration]:
    """The answer `withheld` to the inquiry of `permit`, sealed to the inquirer's server,
    and what its envelope declares of it."""
    response = ProvisionResponse(
        inquiry_id=permit["inquiry_id"], permit_id=permit["permit_id"], status="withheld"
    )
    # Bound, like a carried reply, to the envelope its carrier names as its cause: here,
    # the rejection.
    sealed, declared = addressed(
        response,
        bridge.ring,
        SystemId.INTERMEDIATE,
        permit["inquirer"],
        envelope_id=rejection.id,
        secret=bridge.sealing_secret,
    )
    if not isinstance(sealed, SealedPayload):  # pragma: no cover - a provision is sealed
        raise TypeError("a provision_response travels sealed")
    return sealed, declared
