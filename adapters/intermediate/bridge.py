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

The server has no edge (it speaks no outside protocol); its timed deletion of results
(R42) is `retention.Retention`, which the stack runs beside the other systems' edges.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from adapters.intermediate.fukuhon import format_problems
from adapters.intermediate.linkage import acquire
from adapters.intermediate.provision import answer, sealed_reply
from adapters.intermediate.results import result_of
from adapters.kit.bridge import (
    Bridge,
    Handler,
    NotYet,
    SealingKeys,
    only_from,
    opened,
    payload_of,
    reply_id,
)
from adapters.kit.permits import NetworkList, PermitRefused
from adapters.ports import FukuhonStore, InboxTransaction, IntermediateBook, LinkageRegistry
from contracts.codes import InternalPersonNumber, LinkageCode, SystemId
from contracts.envelope import Envelope, stable_message_id
from contracts.payloads import (
    FukuhonRegistration,
    InquiryRequest,
    LinkageRegistration,
    PermittedListRow,
    PermittedListUpdate,
    ProvisionPermit,
    ProvisionRecord,
    ProvisionResponse,
    ResidentNotice,
    SealedPayload,
    SelfInformationRequest,
)
from contracts.sealing import SealError

__all__ = ["HISTORY", "NETWORK_PROCEDURE", "IntermediateServer"]

log = logging.getLogger("sesshu.adapters.intermediate")
NETWORK_PROCEDURE, HISTORY = "B2-115-2", "vaccination.history"
RETENTION = timedelta(days=7 * 365)  # 情報提供等記録 are kept seven years (R47)
# How long a delivery may wait for what is still on its way (a permit, a 符号).
GRACE = timedelta(seconds=30)


@dataclass
class IntermediateServer:
    """One city's intermediate server."""

    bridge: Bridge
    linkage: LinkageRegistry
    fukuhon: FukuhonStore
    book: IntermediateBook
    sealing_keys: SealingKeys
    keep_results: timedelta
    secret: bytes
    """This server's own secret, from which a 符号 is drawn (the same on a redelivery)."""

    @property
    def city(self) -> str:
        """The municipality this server belongs to (its own agency for 符号)."""
        return self.bridge.municipality

    def handlers(self) -> dict[str, Handler]:
        """The handler of each kind this server acts on, and who may send it."""
        ims, nws = SystemId.HEALTH_MGMT, SystemId.NWS
        return {
            "fukuhon_registration": only_from(ims, handler=self.on_fukuhon),
            "permitted_list_update": only_from(nws, handler=self.on_list),
            "inquiry_request": only_from(ims, nws, handler=self.on_inquiry),
            "provision_permit": only_from(nws, handler=self.on_permit),
            "provision_response": only_from(nws, handler=self.on_response),
            "resident_notice": only_from(ims, handler=self.on_notice),
            "self_information_request": only_from(nws, handler=self.on_self_request),
        }

    async def on_fukuhon(self, envelope: Envelope, tx: InboxTransaction) -> None:
        """F4 with the R45 format check; F5 for a new subject."""
        registration = payload_of(envelope, FukuhonRegistration)
        problems = format_problems(registration)
        if problems:
            log.warning("副本 registration %s refused: %s", envelope.id, "; ".join(problems))
            await tx.record_effect("refused:" + "; ".join(problems))
            return
        if registration.history or registration.operation == "delete":
            await self.fukuhon.apply(registration)
            await tx.record_effect(f"fukuhon:{registration.operation}")
        if registration.resident_code is not None:
            code = await acquire(
                self.linkage,
                self.city,
                registration.person,
                secret=self.secret,
                seed=envelope.id.bytes,
            )
            # Sealed to the network: the hub journals no 住民票コード, only ciphertext.
            await self.bridge.send_sealed(
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

    async def local_list(self) -> NetworkList | None:
        """The newest list copy, if one was received."""
        latest = await self.book.latest_list()
        if latest is None:
            return None
        version, rows = latest
        return NetworkList(version, tuple(PermittedListRow.model_validate(r) for r in rows))

    async def on_inquiry(self, envelope: Envelope, tx: InboxTransaction) -> None:
        """An outbound inquiry from health management, or an inbound one from the network."""
        if envelope.sender.system is SystemId.NWS:
            await self._provide(envelope, tx)
        else:
            await self._ask(envelope, tx)

    async def _ask(self, envelope: Envelope, tx: InboxTransaction) -> None:
        inquiry = payload_of(envelope, InquiryRequest)
        if not isinstance(inquiry.person, InternalPersonNumber):
            await tx.record_effect("refused:not_a_person_number")
            return
        code = await acquire(
            self.linkage, self.city, inquiry.person, secret=self.secret, seed=envelope.id.bytes
        )
        item = envelope.data_items[0]
        await self.book.put_inquiry(
            inquiry.inquiry_id,
            str(inquiry.person),
            str(inquiry.provider),
            envelope.procedure,
            item,
            envelope.sent_at,
        )
        await self._record(envelope, inquiry.inquiry_id, "inquirer", str(inquiry.provider), "sent")
        await self.bridge.send(
            inquiry.model_copy(update={"person": code}),
            to=SystemId.NWS,
            procedure=envelope.procedure,
            data_item=item,
            cause=envelope,
            label="ask-permit",
        )
        await tx.record_effect("inquiry:permit_requested")

    async def on_permit(self, envelope: Envelope, tx: InboxTransaction) -> None:
        """Our permit: send the inquiry with it. A permit for an inquiry to us: keep it."""
        permit = payload_of(envelope, ProvisionPermit)
        if str(permit.provider) == self.city:
            await self.book.put_permit(
                permit.permit_id, permit.inquiry_id, permit.model_dump(mode="json")
            )
            await tx.record_effect("permit:kept")
            return
        asked = await self.book.inquiry(permit.inquiry_id)
        if asked is None:
            await tx.record_effect("permit:unknown_inquiry")
            return
        await self.book.set_state(permit.inquiry_id, "permitted")
        code = await acquire(
            self.linkage,
            self.city,
            InternalPersonNumber(asked["person"]),
            secret=self.secret,
            seed=envelope.id.bytes,
        )
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

    async def _provide(self, envelope: Envelope, tx: InboxTransaction) -> None:
        inquiry = payload_of(envelope, InquiryRequest)
        if inquiry.permit_id is None:
            await tx.record_effect("refused:no_permit")
            return
        raw = await self.book.permit(inquiry.permit_id)
        if raw is None:
            # The network sends the permit to us before it carries the inquiry, so only a
            # race makes it late; an inquiry whose permit never came is refused (R36).
            if datetime.now(UTC) - envelope.sent_at < GRACE:
                raise NotYet(f"permit {inquiry.permit_id} has not arrived")
            await tx.record_effect("refused:permit_unknown")
            return
        permit = ProvisionPermit.model_validate(raw)
        item, now = envelope.data_items[0], datetime.now(UTC)
        local = await self.local_list()
        try:
            if local is None:
                raise PermitRefused("no_local_list", "no permitted-inquiry list received yet")
            response = await answer(
                inquiry,
                permit,
                local_list=local,
                procedure=envelope.procedure,
                data_item=item,
                now=now,
                agency=self.city,
                linkage=self.linkage,
                fukuhon=self.fukuhon,
            )
            outcome: str = response.status
        except PermitRefused as exc:
            log.warning("inquiry %s refused: %s", inquiry.inquiry_id, exc.code)
            response = ProvisionResponse(
                inquiry_id=inquiry.inquiry_id, permit_id=permit.permit_id, status="withheld"
            )
            outcome = f"refused:{exc.code}"
        reply = sealed_reply(
            response,
            ring=self.bridge.ring,
            signer=self.bridge.signer,
            inquirer=str(inquiry.inquirer),
            provider=self.city,
            procedure=envelope.procedure,
            data_item=item,
            causation=envelope.id,
            now=now,
            message_id=reply_id(envelope, "provision"),
            instance=self.bridge.instance,
            correlation=envelope.correlation_id,
        )
        await self.bridge.publish(reply)
        await self._record(envelope, inquiry.inquiry_id, "provider", str(inquiry.inquirer), outcome)
        await tx.record_effect(f"provision:{outcome}")

    async def on_response(self, envelope: Envelope, tx: InboxTransaction) -> None:
        """The sealed reply the network forwarded: open, keep until deleted, hand over."""
        if not isinstance(envelope.payload, SealedPayload) or envelope.causation_id is None:
            await tx.record_effect("refused:not_sealed")
            return
        try:
            # The provider sealed it to the envelope it made; the network names that one.
            response = opened(
                envelope, ProvisionResponse, self.sealing_keys, bound_to=envelope.causation_id
            )
        except (SealError, TypeError):
            await tx.record_effect("refused:seal")
            return
        if not isinstance(response, ProvisionResponse):
            await tx.record_effect("refused:not_a_provision")
            return
        await self.deliver_result(envelope, response)
        await tx.record_effect(f"result:{response.status}")

    async def deliver_result(self, cause: Envelope, response: ProvisionResponse) -> None:
        """Keep the result until its deletion time (R42) and send it to health management
        with this side's 情報提供等記録 (R47)."""
        inquiry_id, status = response.inquiry_id, response.status
        asked = await self.book.inquiry(inquiry_id)
        if asked is None:
            return
        now = datetime.now(UTC)
        result = result_of(response, person=asked["person"], now=now, keep_for=self.keep_results)
        await self.book.finish(
            inquiry_id, status, result.model_dump(mode="json"), now, result.delete_after
        )
        await self.book.record(**self._fields(inquiry_id, "inquirer", asked, now, status))
        for payload in (result, self._provision_record(inquiry_id, asked, now)):
            await self.bridge.send(
                payload,
                to=SystemId.HEALTH_MGMT,
                procedure=asked["procedure"],
                data_item=asked["data_item"]
                if payload.kind == "inquiry_result"
                else "network.provision_record",
                cause=cause,
            )

    def _provision_record(self, inquiry_id: UUID, asked: Any, now: datetime) -> ProvisionRecord:
        return ProvisionRecord(
            record_id=reply_id_for(inquiry_id, "inquirer"),
            inquiry_id=inquiry_id,
            role="inquirer",
            inquirer=self.city,
            provider=asked["provider"],
            requested_at=asked["requested_at"],
            provided_at=now,
            retention_until=(now + RETENTION).date(),
        )

    def _fields(
        self, inquiry_id: UUID, role: str, asked: Any, now: datetime | None, outcome: str
    ) -> dict[str, Any]:
        inquirer, provider = (
            (self.city, asked["provider"]) if role == "inquirer" else (asked["inquirer"], self.city)
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
            "nondisclosure": False,
            "retention_until": (requested + RETENTION).date(),
        }

    async def _record(
        self, envelope: Envelope, inquiry_id: UUID, role: str, other: str, outcome: str
    ) -> None:
        asked = {
            "provider": other,
            "inquirer": other,
            "procedure": envelope.procedure,
            "data_item": envelope.data_items[0],
            "requested_at": envelope.sent_at,
        }
        provided = datetime.now(UTC) if role == "provider" else None
        await self.book.record(**self._fields(inquiry_id, role, asked, provided, outcome))

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
        notice = ResidentNotice(
            notice_id=reply_id(envelope, "self-reply"),
            person=request.person,
            in_reply_to=request.request_id,
            notice_type="self_information_reply",
            history=history or (),
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


def reply_id_for(inquiry_id: UUID, role: str) -> UUID:
    """The 情報提供等記録 id of one side of an inquiry: the same every time it is written."""
    return stable_message_id(inquiry_id.bytes + role.encode(), _EPOCH)


_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
