"""The inquirer's side of a held reply (R37): Chikusei's intermediate server takes the
reply the network carries only with the content its provider's 所属長 approved, and a
reply of data under a flagged item only once the approval is there. Either way the
inquiry is answered (counted so), unless the reply is put back to wait."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast
from uuid import UUID, uuid4

import pytest

from adapters.intermediate.bridge import IntermediateServer
from adapters.intermediate.fukuhon import MemoryFukuhon
from adapters.intermediate.linkage import MemoryLinkage
from adapters.intermediate.memory import MemoryIntermediateBook
from adapters.kit.bridge import Bridge
from adapters.kit.handlers import NotYet
from adapters.kit.sealed import Refusal
from adapters.kit.stored import MemoryInbox
from contracts.codes import SystemId
from contracts.envelope import Envelope, Party, Recipient
from contracts.keys import generate_key
from contracts.payloads import (
    DoseHistoryItem,
    InquiryResult,
    Payload,
    PermittedListRow,
    ProvisionRecord,
    ProvisionResponse,
)
from contracts.sealing import content_digest
from observability.metrics import ADAPTERS
from tests.sealed import sealed_envelope

CITY, PROVIDER, PROCEDURE, ITEM = "082279", "082074", "B2-115-2", "vaccination.history"
KEY = generate_key(SystemId.INTERMEDIATE, CITY, key_id="is-082279-t")


@dataclass
class Recorder:
    """Stands in for the bridge: keeps what it sends and the refusals it publishes."""

    municipality: str = CITY
    system: SystemId = SystemId.INTERMEDIATE
    sent: list[Payload] = field(default_factory=list)
    refused: list[tuple[UUID, str]] = field(default_factory=list)

    async def send(self, payload: Payload, **given: Any) -> None:
        self.sent.append(payload)

    async def refuse(self, refused: Envelope, refusal: Refusal) -> None:
        self.refused.append((refused.id, refusal.code))


async def server(*, flagged: bool) -> tuple[IntermediateServer, Recorder, UUID]:
    """Chikusei's server with an inquiry in flight and a list copy (flagged or not)."""
    recorder, book = Recorder(), MemoryIntermediateBook()
    row = PermittedListRow(
        procedure=PROCEDURE,
        data_item=ITEM,
        direction="inquiry",
        effective_from=date(2016, 1, 1),
        auto_response_disabled=flagged,
        retention_days=2555,
    )
    await book.put_list("0a1b2c3d", [row.model_dump(mode="json")])
    inquiry_id = uuid4()
    await book.put_inquiry(inquiry_id, "1001", PROVIDER, PROCEDURE, ITEM, datetime.now(UTC))
    side = IntermediateServer(
        cast(Bridge, recorder),
        MemoryLinkage(),
        MemoryFukuhon(),
        book,
        timedelta(hours=72),
        b"secret",
    )
    return side, recorder, inquiry_id


def carried(inquiry_id: UUID, *, ago: timedelta = timedelta(0)) -> tuple[Envelope, UUID]:
    """The provider's reply as the network carries it, already opened by the bridge
    (its payload the plaintext), and the provider's envelope id it names as its cause."""
    reply = ProvisionResponse(
        inquiry_id=inquiry_id,
        permit_id=uuid4(),
        status="provided",
        history=(
            DoseHistoryItem(
                vaccine_type="COVID19", dose_number=1, administered_on=date(2024, 1, 9)
            ),
        ),
    )
    provider_envelope = uuid4()
    envelope = sealed_envelope(
        reply,
        KEY,
        municipality=CITY,
        sender=Party(system=SystemId.NWS, instance="nws-1"),
        recipient=Recipient(system=SystemId.INTERMEDIATE, municipality=CITY),
        procedure=PROCEDURE,
        data_items=(ITEM,),
        key_id="nws-t",
        causation_id=provider_envelope,
        sent_at=datetime.now(UTC) - ago,
    )
    return envelope.model_copy(update={"payload": reply}), provider_envelope


def answered() -> float:
    """How many inquiries Chikusei's intermediate server has counted answered."""
    labels = {"system": "intermediate", "municipality": CITY, "event": "inquiry_answered"}
    return ADAPTERS.get_sample_value("sesshu_adapter_events_total", labels) or 0.0


async def handled(side: IntermediateServer, envelope: Envelope) -> list[str]:
    inbox = MemoryInbox()
    async with inbox.first_time("adapter.intermediate.082279", str(envelope.id)) as tx:
        await side.on_response(envelope, tx)
    return [effect for _, _, effect in inbox.effects]


async def test_a_reply_with_the_approved_digest_is_taken() -> None:
    side, recorder, inquiry_id = await server(flagged=True)
    envelope, held = carried(inquiry_id)
    assert isinstance(envelope.payload, ProvisionResponse)
    await side.book.put_attestation(held, content_digest(envelope.payload))
    before = answered()
    assert await handled(side, envelope) == ["result:provided"]
    assert answered() - before == 1
    assert recorder.refused == []
    result = recorder.sent[0]
    assert isinstance(result, InquiryResult)
    assert result.status == "provided"


async def test_a_reply_whose_content_is_not_what_the_shocho_approved_is_refused() -> None:
    side, recorder, inquiry_id = await server(flagged=True)
    envelope, held = carried(inquiry_id)
    await side.book.put_attestation(held, "0" * 64)
    before = answered()
    assert await handled(side, envelope) == ["refused:digest_mismatch"]
    assert answered() - before == 1  # answered: health management is told it was refused
    assert recorder.refused == [(envelope.id, "digest_mismatch")]
    result = recorder.sent[0]
    assert isinstance(result, InquiryResult)
    assert (result.status, result.history) == ("refused", ())


async def test_a_flagged_reply_waits_for_its_approval_a_moment_then_is_refused() -> None:
    side, recorder, inquiry_id = await server(flagged=True)
    fresh, _ = carried(inquiry_id)
    before = answered()
    with pytest.raises(NotYet):
        await handled(side, fresh)
    assert answered() == before  # put back: not answered yet
    late, _ = carried(inquiry_id, ago=timedelta(minutes=5))
    assert await handled(side, late) == ["refused:not_attested"]
    assert answered() - before == 1
    assert recorder.refused == [(late.id, "not_attested")]


async def test_an_unflagged_reply_needs_no_approval() -> None:
    side, recorder, inquiry_id = await server(flagged=False)
    envelope, _ = carried(inquiry_id)
    assert await handled(side, envelope) == ["result:provided"]
    assert recorder.refused == []


async def test_the_providers_nondisclosure_is_kept_in_the_inquirers_records() -> None:
    # R47 (issue 15): the provider's reply marks the exchange 不開示; our record and the
    # ProvisionRecord health management gets keep it, so no resident's view shows it.
    side, recorder, inquiry_id = await server(flagged=False)
    envelope, _ = carried(inquiry_id)
    assert isinstance(envelope.payload, ProvisionResponse)
    hidden = envelope.payload.model_copy(update={"nondisclosure": True})
    assert await handled(side, envelope.model_copy(update={"payload": hidden})) == [
        "result:provided"
    ]
    book = side.book
    assert isinstance(book, MemoryIntermediateBook)
    (record,) = [r for r in await book.records() if r["role"] == "inquirer"]
    assert record["nondisclosure"] is True
    (sent,) = [p for p in recorder.sent if isinstance(p, ProvisionRecord)]
    assert sent.nondisclosure is True
