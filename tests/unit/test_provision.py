"""Inbound provision (F7): answered from the 副本 under a valid permit (R35, R36), sealed
so that only the inquirer's intermediate server can read it (R43)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest

from adapters.intermediate.fukuhon import MemoryFukuhon
from adapters.intermediate.linkage import MemoryLinkage, acquire
from adapters.intermediate.provision import answer, sealed_reply
from adapters.intermediate.results import interrupted, opened_result
from adapters.nws.permits import NetworkList, PermitRefused, issue_permit
from contracts.codes import InternalPersonNumber, SystemId
from contracts.keys import KeyRing, generate_key
from contracts.payloads import (
    DoseHistoryItem,
    FukuhonRegistration,
    InquiryRequest,
    PermittedListRow,
    ProvisionPermit,
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


async def provider_side() -> tuple[MemoryLinkage, MemoryFukuhon, InquiryRequest, ProvisionPermit]:
    linkage, fukuhon = MemoryLinkage(), MemoryFukuhon()
    person = InternalPersonNumber("1000234567")
    code = await acquire(linkage, PROVIDER, person)
    await fukuhon.apply(FukuhonRegistration(person=person, data_item=ITEM, history=DOSES))
    unpermitted = InquiryRequest(
        inquiry_id=uuid4(), inquirer=INQUIRER, provider=PROVIDER, person=code
    )
    permit = issue_permit(LIST, unpermitted, procedure=PROCEDURE, data_items=[ITEM], now=NOW)
    return linkage, fukuhon, unpermitted.model_copy(update={"permit_id": permit.permit_id}), permit


async def test_a_permitted_inquiry_is_answered_from_the_fukuhon() -> None:
    linkage, fukuhon, inquiry, permit = await provider_side()
    common = {
        "local_list": LIST,
        "procedure": PROCEDURE,
        "data_item": ITEM,
        "agency": PROVIDER,
        "linkage": linkage,
        "fukuhon": fukuhon,
    }
    reply = await answer(inquiry, permit, now=NOW, **common)  # type: ignore[arg-type]
    assert reply.status == "provided"
    assert reply.history == DOSES
    stranger = inquiry.model_copy(update={"person": "Z" * 22})
    unknown = await answer(stranger, permit, now=NOW, **common)  # type: ignore[arg-type]
    assert (unknown.status, unknown.history) == ("no_data", ())
    with pytest.raises(PermitRefused, match="permit_expired"):
        await answer(inquiry, permit, now=NOW + timedelta(hours=1), **common)  # type: ignore[arg-type]


async def test_the_reply_is_sealed_to_the_inquirer_and_signed_by_the_provider() -> None:
    linkage, fukuhon, inquiry, permit = await provider_side()
    reply = await answer(
        inquiry,
        permit,
        local_list=LIST,
        procedure=PROCEDURE,
        data_item=ITEM,
        now=NOW,
        agency=PROVIDER,
        linkage=linkage,
        fukuhon=fukuhon,
    )
    inquirer_key = generate_key(SystemId.INTERMEDIATE, INQUIRER, valid_from=NOW - timedelta(1))
    provider_key = generate_key(SystemId.INTERMEDIATE, PROVIDER, valid_from=NOW - timedelta(1))
    ring = KeyRing([inquirer_key.entry, provider_key.entry])
    envelope = sealed_reply(
        reply,
        ring=ring,
        signer=Signer(provider_key.entry.key_id, provider_key.signing),
        inquirer=INQUIRER,
        provider=PROVIDER,
        procedure=PROCEDURE,
        data_item=ITEM,
        causation=uuid4(),
        now=NOW,
    )
    wire = envelope.to_bytes()
    assert b"LOTSECRET1" not in wire  # the network and the hub see only ciphertext
    received, _ = parse_and_verify(
        wire, ring, now=NOW, freshness=Freshness(max_age=timedelta(minutes=15))
    )
    assert isinstance(received.payload, SealedPayload)
    assert received.recipient.system is SystemId.NWS
    opened = open_sealed(
        received.payload,
        private_key=inquirer_key.sealing,
        envelope_id=received.id,
        kind=received.kind,
    )
    assert opened == reply


async def test_the_inquirer_opens_the_reply_into_a_result_deleted_after_its_period() -> None:
    linkage, fukuhon, inquiry, permit = await provider_side()
    reply = await answer(
        inquiry,
        permit,
        local_list=LIST,
        procedure=PROCEDURE,
        data_item=ITEM,
        now=NOW,
        agency=PROVIDER,
        linkage=linkage,
        fukuhon=fukuhon,
    )
    inquirer_key = generate_key(SystemId.INTERMEDIATE, INQUIRER, valid_from=NOW - timedelta(1))
    provider_key = generate_key(SystemId.INTERMEDIATE, PROVIDER, valid_from=NOW - timedelta(1))
    envelope = sealed_reply(
        reply,
        ring=KeyRing([inquirer_key.entry, provider_key.entry]),
        signer=Signer(provider_key.entry.key_id, provider_key.signing),
        inquirer=INQUIRER,
        provider=PROVIDER,
        procedure=PROCEDURE,
        data_item=ITEM,
        causation=uuid4(),
        now=NOW,
    )
    ours = InternalPersonNumber("2000111")
    result = opened_result(
        envelope, private_key=inquirer_key.sealing, person=ours, now=NOW, keep_for=timedelta(30)
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
            envelope, private_key=provider_key.sealing, person=ours, now=NOW, keep_for=timedelta(1)
        )
    for code, status in (("rejected_by_approver", "refused"), ("approval_expired", "withheld")):
        notice = RejectionNotice(
            rejected_message_id=envelope.id, reason_code=code, reason="r", rejected_at=NOW
        )
        cut = interrupted(
            notice, inquiry_id=inquiry.inquiry_id, person=ours, now=NOW, keep_for=timedelta(1)
        )
        assert cut.status == status
