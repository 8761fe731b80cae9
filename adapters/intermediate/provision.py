"""Inbound provision (F7): the providing intermediate server answers an inquiry by itself,
from its 副本, once the network's permit and its own copy of the list allow it (R35, R36),
and seals the answer to the inquirer so that only the inquirer's intermediate server can
open it (R43). Whether the answer then waits for a 所属長 is the hub's decision (R37).

`Provider` is that side of one city's server, as `bridge.IntermediateServer` hands it
the permits and inquiries the network sends; `answer` and `sealed_reply` are what it
builds the reply with.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from adapters.intermediate.fukuhon import FukuhonStore
from adapters.intermediate.linkage import LinkageRegistry
from adapters.intermediate.records import inquiry_record
from adapters.kit import counts
from adapters.kit.bridge import Bridge
from adapters.kit.handlers import NotYet, payload_of, reply_id
from adapters.kit.permits import NetworkList, PermitRefused, check_permit
from adapters.kit.sealed import addressed
from adapters.ports import InboxTransaction, IntermediateBook
from contracts.codes import LinkageCode, SystemId
from contracts.envelope import Envelope, Party, Recipient, new_message_id
from contracts.keys import KeyRing
from contracts.payloads import (
    InquiryRequest,
    PermittedListRow,
    ProvisionPermit,
    ProvisionResponse,
    ReviewCopy,
    ReviewSubject,
)
from contracts.sealing import sealed_review, sealing_secret
from contracts.signing import Signer

__all__ = ["GRACE", "Provider", "answer", "person_asked", "sealed_reply"]

log = logging.getLogger("sesshu.adapters.intermediate")
# How long a delivery may wait for what is still on its way (a permit, a 符号).
GRACE = timedelta(seconds=30)


@dataclass(frozen=True)
class Provider:
    """One city's intermediate server as the provider of inquiries (F7)."""

    bridge: Bridge
    book: IntermediateBook
    linkage: LinkageRegistry
    fukuhon: FukuhonStore
    nondisclosed: frozenset[str] = frozenset()
    """Data items whose provisions this city marks 不開示 (R47)."""

    @property
    def city(self) -> str:
        """The municipality this server belongs to."""
        return self.bridge.municipality

    async def keep_permit(self, permit: ProvisionPermit, tx: InboxTransaction) -> None:
        """A permit for an inquiry to us, kept until the network carries the inquiry."""
        await self.book.put_permit(
            permit.permit_id, permit.inquiry_id, permit.model_dump(mode="json")
        )
        await tx.record_effect("permit:kept")

    async def provide(self, envelope: Envelope, tx: InboxTransaction) -> None:
        """An inquiry the network carried here: answered (or withheld), sealed to the
        inquirer, sent back through the network, and recorded (R47)."""
        inquiry = payload_of(envelope, InquiryRequest)
        permit = await self._permit_for(envelope, inquiry, tx)
        if permit is None:
            return
        now = datetime.now(UTC)
        response, outcome = await self._answer(envelope, inquiry, permit, now)
        nondisclosure = envelope.data_items[0] in self.nondisclosed
        response = response.model_copy(update={"nondisclosure": nondisclosure})
        person = await person_asked(inquiry, agency=self.city, linkage=self.linkage)
        review = ReviewCopy(
            inquirer=inquiry.inquirer,
            inquirer_system=SystemId.INTERMEDIATE,
            subject=ReviewSubject(reference=person),
            provision=response,
        )
        await self.bridge.publish(self._reply(envelope, inquiry, response, now, review))
        record = inquiry_record(
            envelope,
            inquiry,
            "provider",
            city=self.city,
            outcome=outcome,
            subject=str(inquiry.person),  # our agency's 符号, as the network converted it
            reply_id=reply_id(envelope, "provision"),
            nondisclosure=nondisclosure,
        )
        await self.book.record(**record)
        await tx.record_effect(f"provision:{outcome}")
        withheld = response.status == "withheld"
        counts.event(self.bridge, "provision_refused" if withheld else "provision_sent", tx)

    async def local_list(self) -> NetworkList | None:
        """The newest list copy, if one was received."""
        latest = await self.book.latest_list()
        if latest is None:
            return None
        version, rows = latest
        return NetworkList(version, tuple(PermittedListRow.model_validate(r) for r in rows))

    async def _permit_for(
        self, envelope: Envelope, inquiry: InquiryRequest, tx: InboxTransaction
    ) -> ProvisionPermit | None:
        """The kept permit the inquiry names; None, recorded as refused, if there is none."""
        if inquiry.permit_id is None:
            await tx.record_effect("refused:no_permit")
            counts.event(self.bridge, "provision_refused", tx)
            return None
        raw = await self.book.permit(inquiry.permit_id)
        if raw is None:
            # The network sends the permit to us before it carries the inquiry, so only a
            # race makes it late; an inquiry whose permit never came is refused (R36).
            if datetime.now(UTC) - envelope.sent_at < GRACE:
                raise NotYet(f"permit {inquiry.permit_id} has not arrived")
            await tx.record_effect("refused:permit_unknown")
            counts.event(self.bridge, "provision_refused", tx)
            return None
        return ProvisionPermit.model_validate(raw)

    async def _answer(
        self, envelope: Envelope, inquiry: InquiryRequest, permit: ProvisionPermit, now: datetime
    ) -> tuple[ProvisionResponse, str]:
        """The reply and the outcome to record: withheld if the list or permit refuse."""
        local = await self.local_list()
        try:
            if local is None:
                raise PermitRefused("no_local_list", "no permitted-inquiry list received yet")
            response = await answer(
                inquiry,
                permit,
                local_list=local,
                procedure=envelope.procedure,
                data_item=envelope.data_items[0],
                now=now,
                agency=self.city,
                linkage=self.linkage,
                fukuhon=self.fukuhon,
            )
        except PermitRefused as exc:
            log.warning("inquiry %s refused: %s", inquiry.inquiry_id, exc.code)
            withheld = ProvisionResponse(
                inquiry_id=inquiry.inquiry_id, permit_id=permit.permit_id, status="withheld"
            )
            return withheld, f"refused:{exc.code}"
        return response, response.status

    def _reply(
        self,
        cause: Envelope,
        inquiry: InquiryRequest,
        response: ProvisionResponse,
        now: datetime,
        review: ReviewCopy,
    ) -> Envelope:
        return sealed_reply(
            response,
            review=review,
            ring=self.bridge.ring,
            signer=self.bridge.signer,
            inquirer=str(inquiry.inquirer),
            provider=self.city,
            procedure=cause.procedure,
            data_item=cause.data_items[0],
            causation=cause.id,
            now=now,
            message_id=reply_id(cause, "provision"),
            instance=self.bridge.instance,
            correlation=cause.correlation_id,
            secret=self.bridge.sealing_secret,
        )


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
    person = await person_asked(inquiry, agency=agency, linkage=linkage)
    history = None if person is None else await fukuhon.history(str(person), data_item)
    return ProvisionResponse(
        inquiry_id=inquiry.inquiry_id,
        permit_id=permit.permit_id,
        status="provided" if history else "no_data",
        history=history or (),
    )


async def person_asked(
    inquiry: InquiryRequest, *, agency: str, linkage: LinkageRegistry
) -> str | None:
    """This server's 団体内統合宛名番号 of the person an inquiry asks about (by the 符号
    the network converted to ours), if it knows them."""
    if isinstance(inquiry.person, LinkageCode):
        return await linkage.person_for(agency, inquiry.person)
    return str(inquiry.person)


def sealed_reply(
    response: ProvisionResponse,
    *,
    review: ReviewCopy | None = None,
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
    secret: bytes | None = None,
) -> Envelope:
    """The reply as the provider sends it: sealed to the inquirer's intermediate server,
    with its `review` copy sealed to this city's desk (for a 所属長 who may have to
    release it, R37), signed, addressed to the network (which carries what it cannot
    open). `secret` is the signer's sealing secret, drawn from it when not given."""
    message_id = message_id or new_message_id()
    secret = secret or sealing_secret(signer)
    sealed, declared = addressed(
        response,
        ring,
        SystemId.INTERMEDIATE,
        inquirer,
        envelope_id=message_id,
        now=now,
        secret=secret,
    )
    copy = None
    if review is not None:
        copy = sealed_review(review, ring, provider, envelope_id=message_id, now=now, secret=secret)
    return signer.sign(
        Envelope.new(
            payload=sealed,
            declared=declared,
            review=copy,
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
