"""The information-provision network (情報提供ネットワークシステム) as an adapter.

    linkage_registration   keep which individual an agency's 符号 stands for, as a keyed
                           hash of the 住民票コード (F5)
    inquiry_request        without a permit: check the list, issue the permit with the
                           route to both servers (R30); with one: convert the 符号 and carry
                           the inquiry to the provider
    provision_response     carry the sealed reply to the inquirer; the network cannot open
                           it (R43)
    resident_notice        deliver to the resident's portal (マイナポータル, F2, F10),
                           through the edge's `Portal`

Its edge (`edge.py`) reads the portal's requests and hands this side their good rows
(`ask_for_self`, F9). One instance serves one city's queue; every instance signs with
the network's key. What the network keeps of a permit and makes of what it carries under
one is `carrying`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from adapters.kit import counts
from adapters.kit.bridge import Bridge
from adapters.kit.handlers import Handler, LineIds, only_from, payload_of
from adapters.kit.permits import NetworkList, PermitRefused, issue_permit
from adapters.nws.carrying import carried, permit_problem, permit_row, withheld
from adapters.ports import InboxTransaction, NetworkBook
from contracts.codes import LinkageCode, LocalGovCode, SystemId
from contracts.envelope import Envelope
from contracts.payloads import (
    InquiryRequest,
    LinkageRegistration,
    PermittedListUpdate,
    ProvisionPermit,
    RejectionNotice,
    ResidentNotice,
    SealedPayload,
    SelfInformationRequest,
)

__all__ = ["Network", "Portal", "PortalRequestRow", "list_update"]

log = logging.getLogger("sesshu.adapters.nws")


def list_update(network_list: NetworkList) -> PermittedListUpdate:
    """The list as the network distributes it (F8)."""
    return PermittedListUpdate(list_version=network_list.version, rows=network_list.rows)


class PortalRequestRow(BaseModel):
    """One row of the portal's requests file (F9)."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)
    municipality: LocalGovCode
    code: LinkageCode
    exchange_records: bool = False
    """The resident asks for the 情報提供等記録 about them too."""


class Portal(Protocol):
    """The resident's portal, where notices are delivered (the edge's `PortalNotices`)."""

    def deliver(self, municipality: str, notice: ResidentNotice) -> None:
        """A notice for a resident of `municipality`, known there by its 符号."""
        ...


@dataclass
class Network:
    """The network's part for one city's queue."""

    bridge: Bridge
    book: NetworkBook
    network_list: NetworkList
    individual_key: bytes
    """Key of the hash under which the network keeps whom a 符号 stands for."""
    portal: Portal
    """Where notices for residents are delivered."""
    bridge_for: Callable[[str], Bridge]
    """The instance serving another city's queue (the network publishes as one system)."""

    async def ask_for_self(
        self, rows: Sequence[tuple[int, PortalRequestRow]], ids: LineIds
    ) -> None:
        """F9: residents ask through the portal for their own data (one row each: the city
        and the resident's 符号 there, which the portal knows from the card log-in)."""
        for line, row in rows:
            request = SelfInformationRequest(
                request_id=ids(line, "self-request"),
                person=row.code,
                exchange_records=row.exchange_records,
            )
            await self.bridge_for(str(row.municipality)).send(
                request,
                to=SystemId.INTERMEDIATE,
                city=str(row.municipality),
                municipality=str(row.municipality),
                procedure="B2-115-2",
                data_item="self.vaccination_history",
                message_id=ids(line, "self-request-message"),
            )

    def handlers(self) -> dict[str, Handler]:
        """The handler of each kind the network acts on."""
        return {
            "linkage_registration": self.on_linkage,
            "inquiry_request": self.on_inquiry,
            "provision_response": self.on_response,
            "resident_notice": self.on_notice,
            "rejection_notice": only_from(SystemId.HUB, handler=self.on_rejection),
        }

    async def distribute(self, city: str) -> None:
        """F8: send the list to a city's intermediate server."""
        await self.bridge_for(city).send(
            list_update(self.network_list),
            to=SystemId.INTERMEDIATE,
            procedure="S19-8",
            data_item="network.permitted_list",
        )

    async def on_linkage(self, envelope: Envelope, tx: InboxTransaction) -> None:
        """F5: one agency's 符号 and the individual it stands for."""
        registration = payload_of(envelope, LinkageRegistration)  # opened by the bridge
        individual = hmac.new(
            self.individual_key, str(registration.resident_code).encode(), hashlib.sha256
        ).digest()
        await self.book.put_code(str(envelope.municipality), str(registration.code), individual)
        await tx.record_effect("linkage:kept")

    async def on_inquiry(self, envelope: Envelope, tx: InboxTransaction) -> None:
        """Issue a permit, or carry a permitted inquiry to the provider."""
        inquiry = payload_of(envelope, InquiryRequest)
        if str(inquiry.inquirer) != str(envelope.municipality):
            await tx.record_effect("refused:inquirer_mismatch")
            return
        if inquiry.permit_id is None:
            await self._permit(envelope, inquiry, tx)
        else:
            await self._carry(envelope, inquiry, tx)

    async def _permit(
        self, envelope: Envelope, inquiry: InquiryRequest, tx: InboxTransaction
    ) -> None:
        now = datetime.now(UTC)
        try:
            permit = issue_permit(
                self.network_list,
                inquiry,
                procedure=envelope.procedure,
                data_items=list(envelope.data_items),
                now=now,
            )
        except PermitRefused as exc:
            log.warning("no permit for inquiry %s: %s", inquiry.inquiry_id, exc.code)
            await tx.record_effect(f"refused:{exc.code}")
            counts.event(self.bridge, "permit_refused", tx)
            return
        await self.book.put_permit(permit_row(permit, envelope))
        for city, label in (
            (str(permit.provider), "permit-provider"),
            (str(permit.inquirer), "permit"),
        ):
            await self._send(permit, city, envelope, label, "network.permit")
        await tx.record_effect("permit:issued")
        counts.event(self.bridge, "permit_issued", tx)

    async def _carry(
        self, envelope: Envelope, inquiry: InquiryRequest, tx: InboxTransaction
    ) -> None:
        permit = None if inquiry.permit_id is None else await self.book.permit(inquiry.permit_id)
        problem = permit_problem(permit, inquiry, envelope)
        if problem is not None:
            await tx.record_effect(f"refused:{problem}")
            return
        theirs = await self.book.convert(
            str(inquiry.inquirer), str(inquiry.person), str(inquiry.provider)
        )
        if theirs is None:
            await tx.record_effect("refused:unknown_individual")
            return
        forwarded = inquiry.model_copy(update={"person": LinkageCode(theirs)})
        await self._send(
            forwarded, str(inquiry.provider), envelope, "carry", envelope.data_items[0]
        )
        await tx.record_effect("inquiry:carried")

    async def on_response(self, envelope: Envelope, tx: InboxTransaction) -> None:
        """Carry a sealed reply back to the inquirer, unopened."""
        if not isinstance(envelope.payload, SealedPayload):
            await tx.record_effect("refused:not_sealed")
            return
        permit = await self.book.permit_by_correlation(envelope.correlation_id)
        if permit is None or permit["provider"] != str(envelope.municipality):
            await tx.record_effect("refused:unknown_inquiry")
            return
        if permit["answered_at"] is not None:
            await tx.record_effect("refused:answered_already")
            return
        bridge = self.bridge_for(permit["inquirer"])
        await bridge.publish(carried(envelope, permit["inquirer"], bridge))
        await self.book.answered(permit["inquiry_id"])
        await tx.record_effect("provision:carried")

    async def on_rejection(self, envelope: Envelope, tx: InboxTransaction) -> None:
        """A reply the network was to carry was rejected by a 所属長 or expired unapproved
        (R37): the inquirer is told its inquiry was withheld, so it can finish it (R42)."""
        notice = payload_of(envelope, RejectionNotice)
        permit = await self.book.permit_by_correlation(envelope.correlation_id)
        if permit is None or permit["answered_at"] is not None:
            await tx.record_effect("rejection:nothing_waits")
            return
        inquirer = permit["inquirer"]
        bridge = self.bridge_for(inquirer)
        sealed, declared = withheld(permit, envelope, bridge)
        await bridge.send(
            sealed,
            declared=declared,
            kind="provision_response",
            to=SystemId.INTERMEDIATE,
            city=inquirer,
            municipality=inquirer,
            procedure=envelope.procedure,
            data_item=envelope.data_items[0],
            cause=envelope,
        )
        await self.book.answered(permit["inquiry_id"])
        await tx.record_effect(f"rejection:withheld:{notice.reason_code}")

    async def on_notice(self, envelope: Envelope, tx: InboxTransaction) -> None:
        """Deliver a notice to the resident's portal."""
        notice = payload_of(envelope, ResidentNotice)
        self.portal.deliver(str(envelope.municipality), notice)
        await tx.record_effect(f"notice:{notice.notice_type}")

    async def _send(
        self,
        payload: InquiryRequest | ProvisionPermit,
        city: str,
        cause: Envelope,
        label: str,
        item: str,
    ) -> None:
        await self.bridge_for(city).send(
            payload,
            to=SystemId.INTERMEDIATE,
            city=city,
            municipality=city,
            procedure=cause.procedure,
            data_item=item,
            cause=cause,
            label=label,
        )
