"""The intermediate server (中間サーバー) as an adapter: what it does with each delivery.

fukuhon_registration   R45 format check, store the 副本 (F4); a new subject's 符号 is
                       acquired and registered with the network (F5)
permitted_list_update  keep the network's list as the local copy (F8, R35)
inquiry_request        from health management: ask the network for a permit (F6);
                       from the network, with a permit: answer from the 副本, sealed to
                       the inquirer (F7, R35, R36, R43)
provision_permit       ours: send the inquiry with it; for an inquiry to us: keep it
provision_response     the sealed reply, forwarded by the network: open it, keep the
                       result until its deletion time (R42), hand it to health
                       management with the 情報提供等記録 (R47)
resident_notice        from health management: to the resident's portal under our 符号
self_information_request
                       from the network: a resident's own data, back to their portal
                       (F9, F10)

The provider's side of an inquiry is `provision.Provider`; the 情報提供等記録 both sides
keep are built in `records`. The server has no edge (it speaks no outside protocol); its
timed deletion of results (R42) is `retention.Retention`, which the stack runs beside
the other systems' edges.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from adapters.intermediate.fukuhon import format_problems
from adapters.intermediate.linkage import acquire
from adapters.intermediate.provision import GRACE, Provider
from adapters.intermediate.records import (
    OUTCOME_OF_NOTICE,
    inquiry_record,
    provision_record,
    record_fields,
)
from adapters.intermediate.results import result_of
from adapters.kit import counts
from adapters.kit.bridge import Bridge
from adapters.kit.handlers import Handler, NotYet, only_from, payload_of, reply_id
from adapters.kit.sealed import Refusal
from adapters.ports import (
    FukuhonStore,
    InboxTransaction,
    IntermediateBook,
    LinkageRegistry,
    Row,
)
from contracts.codes import InternalPersonNumber, LinkageCode, SystemId
from contracts.envelope import Envelope
from contracts.payloads import (
    ApprovalAttestation,
    ExchangeRecordView,
    FukuhonRegistration,
    InquiryRequest,
    InquiryResult,
    LinkageRegistration,
    PermittedListUpdate,
    ProvisionPermit,
    ProvisionResponse,
    RefusalCode,
    RejectionNotice,
    ResidentNotice,
    SelfInformationRequest,
)
from contracts.sealing import content_digest

__all__ = ["HISTORY", "NETWORK_PROCEDURE", "IntermediateServer"]

log = logging.getLogger("sesshu.adapters.intermediate")
NETWORK_PROCEDURE, HISTORY = "B2-115-2", "vaccination.history"


@dataclass
class IntermediateServer:
    """One city's intermediate server."""

    bridge: Bridge
    linkage: LinkageRegistry
    fukuhon: FukuhonStore
    book: IntermediateBook
    keep_results: timedelta
    secret: bytes
    """This server's own secret, from which a 符号 is drawn (the same on a redelivery)."""
    nondisclosed: frozenset[str] = frozenset()
    """Data items whose provisions this city marks 不開示 (R47)."""

    @property
    def city(self) -> str:
        """The municipality this server belongs to (its own agency for 符号)."""
        return self.bridge.municipality

    @property
    def provider(self) -> Provider:
        """This server as the provider of the inquiries the network carries to it (F7)."""
        return Provider(self.bridge, self.book, self.linkage, self.fukuhon, self.nondisclosed)

    def handlers(self) -> dict[str, Handler]:
        """The handler of each kind this server acts on, and who may send it."""
        ims, nws = SystemId.HEALTH_MGMT, SystemId.NWS
        return {
            "fukuhon_registration": only_from(ims, handler=self.on_fukuhon),
            "permitted_list_update": only_from(nws, handler=self.on_list),
            "inquiry_request": only_from(ims, nws, handler=self.on_inquiry),
            "provision_permit": only_from(nws, handler=self.on_permit),
            "provision_response": only_from(nws, handler=self.on_response),
            "approval_attestation": only_from(SystemId.HUB, handler=self.on_attestation),
            "resident_notice": only_from(ims, handler=self.on_notice),
            "self_information_request": only_from(nws, handler=self.on_self_request),
            "rejection_notice": only_from(SystemId.HUB, handler=self.on_rejection),
        }

    async def on_rejection(self, envelope: Envelope, tx: InboxTransaction) -> None:
        """The hub says a message of ours was refused: where it was a reply we provided
        that a 所属長 rejected or nobody approved in time, our 情報提供等記録 says so (R47)."""
        notice = payload_of(envelope, RejectionNotice)
        outcome = OUTCOME_OF_NOTICE.get(notice.reason_code)
        noted = outcome is not None and await self.book.record_outcome(
            notice.rejected_message_id, outcome
        )
        await tx.record_effect(f"record:{outcome}" if noted else f"rejection:{notice.reason_code}")

    async def on_fukuhon(self, envelope: Envelope, tx: InboxTransaction) -> None:
        """F4 with the R45 format check; F5 for a new subject."""
        registration = payload_of(envelope, FukuhonRegistration)
        problems = format_problems(registration)
        if problems:
            log.warning("副本 registration %s refused: %s", envelope.id, "; ".join(problems))
            await tx.record_effect("refused:" + "; ".join(problems))
            counts.event(self.bridge, "fukuhon_refused", tx)
            return
        if registration.history or registration.operation == "delete":
            await self.fukuhon.apply(registration)
            await tx.record_effect(f"fukuhon:{registration.operation}")
            counts.event(self.bridge, "fukuhon_registered", tx)
        if registration.resident_code is not None:
            code = await self._code(registration.person, envelope)
            # Sealed to the network: the hub journals no 住民票コード, only ciphertext.
            await self.bridge.send(
                LinkageRegistration(code=code, resident_code=registration.resident_code),
                to=SystemId.NWS,
                procedure="S19-8",
                data_item="network.linkage",
                cause=envelope,
            )
            await tx.record_effect("linkage:registered")

    async def on_list(self, envelope: Envelope, tx: InboxTransaction) -> None:
        """F8: the local copy of the permitted-inquiry list."""
        update = payload_of(envelope, PermittedListUpdate)
        rows = [row.model_dump(mode="json") for row in update.rows]
        await self.book.put_list(update.list_version, rows)
        await tx.record_effect(f"list:{update.list_version}")

    async def on_inquiry(self, envelope: Envelope, tx: InboxTransaction) -> None:
        """An outbound inquiry from health management, or an inbound one from the network."""
        if envelope.sender.system is SystemId.NWS:
            await self.provider.provide(envelope, tx)
        else:
            await self._ask(envelope, tx)

    async def _ask(self, envelope: Envelope, tx: InboxTransaction) -> None:
        inquiry = payload_of(envelope, InquiryRequest)
        if not isinstance(inquiry.person, InternalPersonNumber):
            await tx.record_effect("refused:not_a_person_number")
            return
        code = await self._code(inquiry.person, envelope)
        await self._remember(envelope, inquiry, code)
        await self.bridge.send(
            inquiry.model_copy(update={"person": code}),
            to=SystemId.NWS,
            procedure=envelope.procedure,
            data_item=envelope.data_items[0],
            cause=envelope,
            label="ask-permit",
        )
        await tx.record_effect("inquiry:permit_requested")

    async def _remember(
        self, envelope: Envelope, inquiry: InquiryRequest, code: LinkageCode
    ) -> None:
        """The inquiry asked, kept until its result comes, and its record (F6, R47), which
        names the person by our agency's 符号 `code`."""
        await self.book.put_inquiry(
            inquiry.inquiry_id,
            str(inquiry.person),
            str(inquiry.provider),
            envelope.procedure,
            envelope.data_items[0],
            envelope.sent_at,
        )
        record = inquiry_record(
            envelope, inquiry, "inquirer", city=self.city, outcome="sent", subject=str(code)
        )
        await self.book.record(**record)

    async def on_permit(self, envelope: Envelope, tx: InboxTransaction) -> None:
        """Our permit: send the inquiry with it. A permit for an inquiry to us: keep it."""
        permit = payload_of(envelope, ProvisionPermit)
        if str(permit.provider) == self.city:
            await self.provider.keep_permit(permit, tx)
        else:
            await self._send_with(permit, envelope, tx)

    async def _send_with(
        self, permit: ProvisionPermit, envelope: Envelope, tx: InboxTransaction
    ) -> None:
        """F6: the inquiry asked, now with the network's permit, to the network."""
        asked = await self.book.inquiry(permit.inquiry_id)
        if asked is None:
            await tx.record_effect("permit:unknown_inquiry")
            return
        await self.book.set_state(permit.inquiry_id, "permitted")
        code = await self._code(InternalPersonNumber(asked["person"]), envelope)
        inquiry = InquiryRequest(
            inquiry_id=permit.inquiry_id,
            inquirer=permit.inquirer,
            provider=permit.provider,
            person=code,
            permit_id=permit.permit_id,
        )
        await self.bridge.send(
            inquiry,
            to=SystemId.NWS,
            procedure=asked["procedure"],
            data_item=asked["data_item"],
            cause=envelope,
        )
        await tx.record_effect("inquiry:sent_with_permit")
        counts.event(self.bridge, "inquiry_sent", tx)

    async def on_attestation(self, envelope: Envelope, tx: InboxTransaction) -> None:
        """The hub's word that a 所属長 approved a provider's held reply: kept, so that
        the reply, when the network carries it here, is taken only with that digest."""
        attestation = payload_of(envelope, ApprovalAttestation)
        await self.book.put_attestation(attestation.held_message_id, attestation.content_sha256)
        await tx.record_effect("attestation:kept")

    async def on_response(self, envelope: Envelope, tx: InboxTransaction) -> None:
        """The reply the network carried (opened by the bridge with this server's key,
        bound to the provider's envelope): kept until deleted, handed over; unless a
        所属長 approved other content than it holds, or it should have waited for one and
        no approval came (R37): then refused, the network told, the inquiry ended."""
        response = payload_of(envelope, ProvisionResponse)
        problem = await self._unapproved(envelope, response)
        if problem is not None:
            code, reason = problem
            log.warning("reply %s refused: %s", envelope.id, code)
            await self.bridge.refuse(envelope, Refusal(code, reason))
            await self.deliver_result(envelope, response, tx, refused=True)
            await tx.record_effect(f"refused:{code}")
            return
        await self.deliver_result(envelope, response, tx)
        await tx.record_effect(f"result:{response.status}")

    async def _unapproved(
        self, envelope: Envelope, response: ProvisionResponse
    ) -> tuple[RefusalCode, str] | None:
        """Why a reply may not be taken for lack of the right approval, if so: an approval
        of its provider's envelope must name its digest; a reply of data under an item
        the list flags must have one (it may arrive a moment after the reply)."""
        held_id = envelope.causation_id
        approved = None if held_id is None else await self.book.attestation(held_id)
        if approved is not None:
            if approved != content_digest(response):
                return "digest_mismatch", "payload: not the content the 所属長 approved (R37)"
            return None
        if response.status != "provided" or not await self._flagged(envelope):
            return None
        if datetime.now(UTC) - envelope.sent_at < GRACE:
            raise NotYet("the approval of a flagged reply has not arrived")
        return "not_attested", "payload: a flagged reply came without its approval (R37)"

    async def _flagged(self, envelope: Envelope) -> bool:
        """Whether this server's copy of the list disables the automatic answer for the
        reply's procedure and data items (自動応答不可フラグ)."""
        local = await self.provider.local_list()
        if local is None:
            return False
        return any(
            row.auto_response_disabled
            and row.procedure == envelope.procedure
            and row.data_item in envelope.data_items
            for row in local.rows
        )

    async def deliver_result(
        self,
        cause: Envelope,
        response: ProvisionResponse,
        tx: InboxTransaction,
        *,
        refused: bool = False,
    ) -> None:
        """Keep the result until its deletion time (R42) and send it to health management
        with this side's 情報提供等記録 (R47); a `refused` reply ends the inquiry as
        refused, with nothing of it. Counted as answered once `tx` commits."""
        asked = await self.book.inquiry(response.inquiry_id)
        if asked is None:
            return
        now = datetime.now(UTC)
        result = result_of(response, person=asked["person"], now=now, keep_for=self.keep_results)
        if refused:
            result = result.model_copy(update={"status": "refused", "history": ()})
        nondisclosure = response.nondisclosure  # the provider's 不開示, kept on our side too
        await self._finish(result, asked, now, nondisclosure=nondisclosure)
        record = provision_record(
            result.inquiry_id, asked, city=self.city, now=now, nondisclosure=nondisclosure
        )
        for payload, item in ((result, asked["data_item"]), (record, "network.provision_record")):
            await self.bridge.send(
                payload,
                to=SystemId.HEALTH_MGMT,
                procedure=asked["procedure"],
                data_item=item,
                cause=cause,
            )
        counts.event(self.bridge, "inquiry_answered", tx)

    async def _finish(
        self, result: InquiryResult, asked: Row, now: datetime, *, nondisclosure: bool
    ) -> None:
        """The result kept until its deletion time, and this side's record completed."""
        inquiry_id, status = result.inquiry_id, result.status
        await self.book.finish(
            inquiry_id, status, result.model_dump(mode="json"), now, result.delete_after
        )
        fields = record_fields(
            inquiry_id,
            "inquirer",
            asked,
            city=self.city,
            now=now,
            outcome=status,
            nondisclosure=nondisclosure,
        )
        await self.book.record(**fields)

    async def on_notice(self, envelope: Envelope, tx: InboxTransaction) -> None:
        """A notice for a resident (F2, F10): to the portal under our 符号, never a number."""
        notice = payload_of(envelope, ResidentNotice)
        person = notice.person
        if not isinstance(person, LinkageCode):
            code = await self.linkage.code_for(self.city, person)
            if code is None:
                # The subject's registration (F5) may still be on its way.
                if datetime.now(UTC) - envelope.sent_at < GRACE:
                    raise NotYet("the resident's 符号 has not been acquired yet")
                await tx.record_effect("refused:no_linkage_code")
                return
            notice = notice.model_copy(update={"person": code})
        await self._to_portal(notice, envelope)
        await tx.record_effect("notice:forwarded")

    async def on_self_request(self, envelope: Envelope, tx: InboxTransaction) -> None:
        """F9/F10: a resident asked for their own data; the reply goes back to the portal."""
        request = payload_of(envelope, SelfInformationRequest)
        person = await self.linkage.person_for(self.city, request.person)
        history = None if person is None else await self.fukuhon.history(str(person), HISTORY)
        records = (
            await self.book.records_about(str(request.person), SHOWN_RECORDS)
            if request.exchange_records
            else []
        )
        notice = ResidentNotice(
            notice_id=reply_id(envelope, "self-reply"),
            person=request.person,
            in_reply_to=request.request_id,
            notice_type="self_information_reply",
            history=history or (),
            exchange_records=tuple(_shown(record) for record in records),
        )
        await self._to_portal(notice, envelope)
        await tx.record_effect(f"self_information:{'provided' if history else 'no_data'}")

    async def _to_portal(self, notice: ResidentNotice, cause: Envelope) -> None:
        """A notice for the resident's portal, through the network, under our 符号."""
        await self.bridge.send(
            notice,
            to=SystemId.NWS,
            procedure=NETWORK_PROCEDURE,
            data_item="notice.vaccination",
            cause=cause,
        )

    async def _code(self, person: InternalPersonNumber, cause: Envelope) -> LinkageCode:
        """The subject's 符号, acquired on first use; drawn from the delivery that asks, so a
        redelivery draws the same one."""
        return await acquire(
            self.linkage, self.city, person, secret=self.secret, seed=cause.id.bytes
        )


SHOWN_RECORDS = 500
"""The most 情報提供等記録 a resident's reply shows, newest first (ResidentNotice's bound)."""


def _shown(record: Row) -> ExchangeRecordView:
    """A 情報提供等記録 as the resident it is about sees it: the other city, not ours."""
    role = record["role"]
    return ExchangeRecordView(
        role=role,
        counterpart=record["provider"] if role == "inquirer" else record["inquirer"],
        procedure=record["procedure"],
        data_item=record["data_item"],
        requested_at=record["requested_at"],
        provided_at=record["provided_at"],
        outcome=record["outcome"],
    )
