"""Inbound provision (F7): answered from the 副本 under a valid permit (R35, R36), sealed
so that only the inquirer's intermediate server can read it (R43)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest

from adapters.intermediate.fukuhon import MemoryFukuhon
from adapters.intermediate.linkage import MemoryLinkage, acquire
from adapters.intermediate.provision import answer, sealed_reply
from adapters.intermediate.results import interrupted, opened_result
from adapters.kit.permits import NetworkList, PermitRefused, issue_permit
from contracts.codes import InternalPersonNumber, SystemId
from contracts.envelope import Envelope
from contracts.keys import KeyRing, generate_key
from contracts.payloads import (
    DoseHistoryItem,
    FukuhonRegistration,
    InquiryRequest,
    PermittedListRow,
    ProvisionPermit,
    ProvisionResponse,
    RejectionNotice,
    SealedPayload,
)
from contracts.sealing import SealError, open_sealed
from contracts.signing import Freshness, Signer, parse_and_verify

NOW = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
INQUIRER, PROVIDER = "082279", "082074"
ITEM, PROCEDURE = "vaccination.history", "B2-115-2"
LIST = NetworkList(
    "0a1b2c3d",
    (
        PermittedListRow(
            procedure=PROCEDURE,
            data_item=ITEM,
            direction="inquiry",
            effective_from=date(2016, 1, 1),
            retention_days=2555,
        ),
    ),
)
DOSES = (
    DoseHistoryItem(
        vaccine_type="COVID19",
        dose_number=1,
        administered_on=date(2021, 6, 1),
        lot_number="LOTSECRET1",
    ),
)


INQUIRER_KEY = generate_key(SystemId.INTERMEDIATE, INQUIRER, valid_from=NOW - timedelta(1))
PROVIDER_KEY = generate_key(SystemId.INTERMEDIATE, PROVIDER, valid_from=NOW - timedelta(1))
RING = KeyRing([INQUIRER_KEY.entry, PROVIDER_KEY.entry])


@dataclass
class ProviderSide:
    """The providing intermediate server's stores, and a permitted inquiry to it."""

    linkage: MemoryLinkage
    fukuhon: MemoryFukuhon
    inquiry: InquiryRequest
    permit: ProvisionPermit

    async def answer(
        self, inquiry: InquiryRequest | None = None, now: datetime = NOW
    ) -> ProvisionResponse:
        return await answer(
            inquiry or self.inquiry,
            self.permit,
            local_list=LIST,
            procedure=PROCEDURE,
            data_item=ITEM,
            now=now,
            agency=PROVIDER,
            linkage=self.linkage,
            fukuhon=self.fukuhon,
        )


async def provider_side() -> ProviderSide:
    linkage, fukuhon = MemoryLinkage(), MemoryFukuhon()
    person = InternalPersonNumber("1000234567")
    code = await acquire(linkage, PROVIDER, person)
    await fukuhon.apply(FukuhonRegistration(person=person, data_item=ITEM, history=DOSES))
    unpermitted = InquiryRequest(
        inquiry_id=uuid4(), inquirer=INQUIRER, provider=PROVIDER, person=code
    )
    permit = issue_permit(LIST, unpermitted, procedure=PROCEDURE, data_items=[ITEM], now=NOW)
    inquiry = unpermitted.model_copy(update={"permit_id": permit.permit_id})
    return ProviderSide(linkage, fukuhon, inquiry, permit)


def sealed(reply: ProvisionResponse) -> Envelope:
    return sealed_reply(
        reply,
        ring=RING,
        signer=Signer(PROVIDER_KEY.entry.key_id, PROVIDER_KEY.signing),
        inquirer=INQUIRER,
        provider=PROVIDER,
        procedure=PROCEDURE,
        data_item=ITEM,
        causation=uuid4(),
        now=NOW,
    )


async def test_a_permitted_inquiry_is_answered_from_the_fukuhon() -> None:
    side = await provider_side()
    reply = await side.answer()
    assert reply.status == "provided"
    assert reply.history == DOSES
    stranger = side.inquiry.model_copy(update={"person": "Z" * 22})
    unknown = await side.answer(stranger)
    assert (unknown.status, unknown.history) == ("no_data", ())
    with pytest.raises(PermitRefused, match="permit_expired"):
        await side.answer(now=NOW + timedelta(hours=1))


async def test_the_reply_is_sealed_to_the_inquirer_and_signed_by_the_provider() -> None:
    reply = await (await provider_side()).answer()
    wire = sealed(reply).to_bytes()
    assert b"LOTSECRET1" not in wire  # the network and the hub see only ciphertext
    received, _ = parse_and_verify(
        wire, RING, now=NOW, freshness=Freshness(max_age=timedelta(minutes=15))
    )
    assert isinstance(received.payload, SealedPayload)
    assert received.recipient.system is SystemId.NWS
    opened = open_sealed(
        received.payload,
        private_key=INQUIRER_KEY.sealing,
        envelope_id=received.id,
        kind=received.kind,
    )
    assert opened == reply


async def test_the_inquirer_opens_the_reply_into_a_result_deleted_after_its_period() -> None:
    side = await provider_side()
    inquiry = side.inquiry
    envelope = sealed(await side.answer())
    ours = InternalPersonNumber("2000111")
    result = opened_result(
        envelope, private_key=INQUIRER_KEY.sealing, person=ours, now=NOW, keep_for=timedelta(30)
    )
    assert (result.inquiry_id, result.person, result.status) == (
        inquiry.inquiry_id,
        ours,
        "provided",
    )
    assert result.history == DOSES
    assert result.delete_after == NOW + timedelta(30)
    with pytest.raises(SealError):  # another server's key opens nothing
        opened_result(
            envelope, private_key=PROVIDER_KEY.sealing, person=ours, now=NOW, keep_for=timedelta(1)
        )
    for code, status in (("rejected_by_approver", "refused"), ("approval_expired", "withheld")):
        notice = RejectionNotice(
            rejected_message_id=envelope.id, reason_code=code, reason="r", rejected_at=NOW
        )
        cut = interrupted(
            notice, inquiry_id=inquiry.inquiry_id, person=ours, now=NOW, keep_for=timedelta(1)
        )
        assert cut.status == status
