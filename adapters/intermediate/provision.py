"""Inbound provision (F7): the providing intermediate server answers an inquiry by itself,
from its 副本, once the network's permit and its own copy of the list allow it (R35, R36),
and seals the answer to the inquirer so that only the inquirer's intermediate server can
open it (R43). Whether the answer then waits for a 所属長 is the hub's decision (R37).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from adapters.intermediate.fukuhon import FukuhonStore
from adapters.intermediate.linkage import LinkageRegistry
from adapters.kit.permits import NetworkList, check_permit
from contracts.codes import LinkageCode, SystemId
from contracts.envelope import Envelope, Party, Recipient, new_message_id
from contracts.keys import KeyRing
from contracts.payloads import InquiryRequest, ProvisionPermit, ProvisionResponse
from contracts.sealing import seal
from contracts.signing import Signer

__all__ = ["answer", "sealed_reply"]


async def answer(
    inquiry: InquiryRequest,
    permit: ProvisionPermit,
    *,
    local_list: NetworkList,
    procedure: str,
    data_item: str,
    now: datetime,
    agency: str,
    linkage: LinkageRegistry,
    fukuhon: FukuhonStore,
) -> ProvisionResponse:
    """The reply to a permitted inquiry, built from the 副本; PermitRefused if not allowed."""
    check_permit(permit, inquiry, local_list, procedure=procedure, data_items=[data_item], now=now)
    person = (
        await linkage.person_for(agency, inquiry.person)
        if isinstance(inquiry.person, LinkageCode)
        else inquiry.person
    )
    history = None if person is None else await fukuhon.history(str(person), data_item)
    return ProvisionResponse(
        inquiry_id=inquiry.inquiry_id,
        permit_id=permit.permit_id,
        status="provided" if history else "no_data",
        history=history or (),
    )


def sealed_reply(
    response: ProvisionResponse,
    *,
    ring: KeyRing,
    signer: Signer,
    inquirer: str,
    provider: str,
    procedure: str,
    data_item: str,
    causation: UUID,
    now: datetime,
    message_id: UUID | None = None,
    instance: str = "is-1",
    correlation: UUID | None = None,
) -> Envelope:
    """The reply as the provider sends it: sealed to the inquirer's intermediate server,
    signed, addressed to the network (which carries what it cannot open)."""
    message_id = message_id or new_message_id()
    key_id, public = ring.sealing_key_for(SystemId.INTERMEDIATE, inquirer, now)
    sealed = seal(response, recipient_key_id=key_id, recipient=public, envelope_id=message_id)
    return signer.sign(
        Envelope.new(
            payload=sealed,
            kind=response.kind,
            message_id=message_id,
            municipality=provider,
            sender=Party(system=SystemId.INTERMEDIATE, instance=instance),
            recipient=Recipient(system=SystemId.NWS, municipality=provider),
            procedure=procedure,
            data_items=(data_item,),
            key_id=signer.key_id,
            correlation_id=correlation or causation,
            causation_id=causation,
            sent_at=now,
        )
    )
