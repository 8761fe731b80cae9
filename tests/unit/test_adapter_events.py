"""What each system counts of what it did (`sesshu_adapter_events_total`): every event where
its act happens, under the system and its configured city only, and for a delivery once its
transaction commits, never for one that rolled back; and the closed set holds no event that
nothing counts. In memory: each system's bridge side talks to a recorder in place of
`adapters.kit.Bridge`."""

from __future__ import annotations

import ast
import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from uuid import UUID, uuid4

import pytest

from adapters.intermediate.bridge import IntermediateServer
from adapters.intermediate.fukuhon import MemoryFukuhon
from adapters.intermediate.linkage import MemoryLinkage, acquire
from adapters.intermediate.memory import MemoryIntermediateBook
from adapters.kiosk.bridge import (
    CertificateCenter,
    CertificateRefused,
    DuplicateApplication,
    MemoryApplicationLog,
    NoCertificate,
)
from adapters.kiosk.simulator import CardAuthority, MyNumberCard
from adapters.kiosk.terminals import Terminal
from adapters.kit import counts
from adapters.kit.acts import RosterFile
from adapters.kit.bridge import Bridge
from adapters.kit.card_check import CardRejected
from adapters.kit.permits import NetworkList, issue_permit
from adapters.kit.sealed import Refusal
from adapters.kit.shc import Issuer, verify
from adapters.kit.stored import MemoryInbox
from adapters.nws.bridge import Network
from adapters.nws.memory import MemoryNetworkBook
from adapters.ports import ApplicationEntry, InboxTransaction
from adapters.vrs.bridge import Vrs
from adapters.vrs.memory import MemoryVrsBook
from contracts.codes import InternalPersonNumber, SystemId
from contracts.envelope import Envelope, Party, Recipient
from contracts.examples import example_payload
from contracts.keys import KeyRing, generate_key
from contracts.payloads import (
    CertificateApplication,
    CertificateIssued,
    DeliveryRefusal,
    DoseHistoryItem,
    FukuhonRegistration,
    InquiryRequest,
    PassportInfo,
    Payload,
    PermittedListRow,
    TargetRegistration,
    TransferInInquiry,
    TransferOutProvision,
)
from contracts.signing import Signer
from observability.metrics import ADAPTER_EVENTS, ADAPTERS
from tests.sealed import SECRET, sealed_envelope
from tests.unit.test_edges import CHIKUSEI_BODY

CITY, OTHER = "082279", "082074"
PROCEDURE, ITEM = "B2-115-2", "vaccination.history"
START = datetime.now(UTC) - timedelta(days=1)
# The inquirer's intermediate server opens replies; the provider's desk, the review copies.
INQUIRER_KEY = generate_key(SystemId.INTERMEDIATE, CITY, valid_from=START)
PROVIDER_KEY = generate_key(SystemId.INTERMEDIATE, OTHER, valid_from=START)
PROVIDER_DESK = generate_key(SystemId.DESK, OTHER, valid_from=START)
RING = KeyRing([INQUIRER_KEY.entry, PROVIDER_KEY.entry, PROVIDER_DESK.entry])
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
AUTHORITY = CardAuthority()
DOSE = DoseHistoryItem(vaccine_type="COVID19", dose_number=1, administered_on=date(2021, 6, 1))
Counts = dict[tuple[str, str, str], float]


def _events() -> Counts:
    return {
        (s.labels["system"], s.labels["municipality"], s.labels["event"]): s.value
        for metric in ADAPTERS.collect()
        if metric.name == "sesshu_adapter_events"
        for s in metric.samples
        if s.name.endswith("_total")
    }


class Counted:
    """What the events counter counted since this was made: (system, city, event) -> n."""

    def __init__(self) -> None:
        self._before = _events()

    def since(self) -> Counts:
        return {
            key: value - self._before.get(key, 0.0)
            for key, value in _events().items()
            if value != self._before.get(key, 0.0)
        }


@dataclass
class Recorder:
    """Stands in for a system's bridge: who it is, and what it sends and publishes."""

    system: SystemId
    municipality: str = CITY
    ring: KeyRing = RING
    signer: Signer = field(default_factory=lambda: Signer("is-t", PROVIDER_KEY.signing))
    instance: str = "t-1"
    sealing_secret: bytes = SECRET
    sent: list[Payload] = field(default_factory=list)
    published: list[Envelope] = field(default_factory=list)
    has_sent: asyncio.Event = field(default_factory=asyncio.Event)
    message_ids: list[UUID | None] = field(default_factory=list)

    refusals: list[tuple[UUID, str]] = field(default_factory=list)

    async def send(self, payload: Payload, **given: Any) -> None:
        self.sent.append(payload)
        self.message_ids.append(given.get("message_id"))
        self.has_sent.set()

    async def refuse(self, refused: Envelope, refusal: Refusal) -> None:
        self.refusals.append((refused.id, refusal.code))

    async def publish(self, envelope: Envelope) -> Envelope:
        self.published.append(envelope)
        return envelope


def bridge(recorder: Recorder) -> Bridge:
    return cast(Bridge, recorder)


def delivered(
    payload: Payload, sender: SystemId, municipality: str, to: SystemId, **fields: Any
) -> Envelope:
    """A delivery as the bridge hands it to a handler: opened, its payload the plaintext."""
    envelope = sealed_envelope(
        payload,
        INQUIRER_KEY,  # whoever it was sealed to, the bridge opened it
        municipality=municipality,
        sender=Party(system=sender, instance="t-1"),
        recipient=Recipient(system=to, municipality=fields.pop("city", municipality)),
        procedure=fields.pop("procedure", PROCEDURE),
        data_items=(fields.pop("item", ITEM),),
        key_id="sender-t",
        **fields,
    )
    return envelope.model_copy(update={"payload": payload})


Handle = Callable[[Envelope, InboxTransaction], Awaitable[None]]


async def handled(handler: Handle, envelope: Envelope) -> list[str]:
    """`handler` on `envelope` inside an inbox transaction: the effects it committed."""
    inbox = MemoryInbox()
    async with inbox.first_time("adapter.t", str(envelope.id)) as tx:
        await handler(envelope, tx)
    return [effect for _, _, effect in inbox.effects]


# --- when a count is made -------------------------------------------------------------------


async def test_a_delivery_counts_what_it_did_once_it_commits_and_never_if_it_rolls_back() -> None:
    at, inbox, counted = counts.At(SystemId.VRS, CITY), MemoryInbox(), Counted()

    async def failing_handler() -> None:
        async with inbox.first_time("adapter.vrs.082279", "m-1") as tx:
            counts.event(at, "certificate_issued", tx)
            raise RuntimeError("the handler failed after it acted")

    with pytest.raises(RuntimeError):
        await failing_handler()
    assert counted.since() == {}
    async with inbox.first_time("adapter.vrs.082279", "m-1") as tx:
        counts.event(at, "certificate_issued", tx)
        assert counted.since() == {}  # the transaction is still open
    assert counted.since() == {("vrs", CITY, "certificate_issued"): 1}
    counts.event(at, "transfer_requested")  # outside a delivery: at once
    assert counted.since()[("vrs", CITY, "transfer_requested")] == 1


def test_every_event_of_the_closed_set_is_counted_somewhere() -> None:
    # The names given to `counts.event(by, name, ...)` across the adapters, conditional
    # ones included: the set is what the systems count, no more.
    counted: set[object] = set()
    for path in (Path(__file__).parents[2] / "adapters").rglob("*.py"):
        for call in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(call, ast.Call) and ast.unparse(call.func) == "counts.event":
                named = ast.walk(call.args[1])
                counted |= {n.value for n in named if isinstance(n, ast.Constant)}
    assert counted == ADAPTER_EVENTS


# --- the network: permits (R30) ---------------------------------------------------------------


async def test_the_network_counts_the_permits_it_issues_and_refuses() -> None:
    recorder = Recorder(SystemId.NWS)
    network = Network(
        bridge(recorder),
        MemoryNetworkBook(),
        LIST,
        b"key",
        cast(Any, None),
        lambda _: bridge(recorder),
    )
    inquiry = InquiryRequest(inquiry_id=uuid4(), inquirer=CITY, provider=OTHER, person="A" * 22)
    asked = delivered(inquiry, SystemId.INTERMEDIATE, CITY, SystemId.NWS)
    unlisted = delivered(inquiry, SystemId.INTERMEDIATE, CITY, SystemId.NWS, item="self.x")
    counted = Counted()

    assert await handled(network.on_inquiry, asked) == ["permit:issued"]
    assert await handled(network.on_inquiry, unlisted) == ["refused:not_on_list"]

    assert counted.since() == {
        ("nws", CITY, "permit_issued"): 1,
        ("nws", CITY, "permit_refused"): 1,
    }


# --- the intermediate server: 副本, inquiries, provisions -------------------------------------


def intermediate(
    recorder: Recorder, book: MemoryIntermediateBook | None = None
) -> IntermediateServer:
    return IntermediateServer(
        bridge(recorder),
        MemoryLinkage(),
        MemoryFukuhon(),
        book or MemoryIntermediateBook(),
        timedelta(hours=72),
        b"secret",
    )


async def test_the_intermediate_server_counts_fukuhon_registered_and_refused() -> None:
    server = intermediate(Recorder(SystemId.INTERMEDIATE))
    good = FukuhonRegistration(person="1001", data_item=ITEM, history=(DOSE,))
    twice = FukuhonRegistration(person="1001", data_item=ITEM, history=(DOSE, DOSE))
    counted = Counted()

    assert await handled(
        server.on_fukuhon, delivered(good, SystemId.HEALTH_MGMT, CITY, SystemId.INTERMEDIATE)
    ) == ["fukuhon:upsert"]
    effects = await handled(
        server.on_fukuhon, delivered(twice, SystemId.HEALTH_MGMT, CITY, SystemId.INTERMEDIATE)
    )
    assert effects[0].startswith("refused:")

    assert counted.since() == {
        ("intermediate", CITY, "fukuhon_registered"): 1,
        ("intermediate", CITY, "fukuhon_refused"): 1,
    }


async def test_the_asker_counts_the_inquiry_it_sends_with_its_permit() -> None:
    recorder, book = Recorder(SystemId.INTERMEDIATE), MemoryIntermediateBook()
    inquiry_id = uuid4()
    await book.put_inquiry(inquiry_id, "1001", OTHER, PROCEDURE, ITEM, datetime.now(UTC))
    inquiry = InquiryRequest(inquiry_id=inquiry_id, inquirer=CITY, provider=OTHER, person="A" * 22)
    permit = issue_permit(
        LIST, inquiry, procedure=PROCEDURE, data_items=[ITEM], now=datetime.now(UTC)
    )
    counted = Counted()

    effects = await handled(
        intermediate(recorder, book).on_permit,
        delivered(permit, SystemId.NWS, CITY, SystemId.INTERMEDIATE, item="network.permit"),
    )

    assert effects == ["inquiry:sent_with_permit"]
    assert [p.kind for p in recorder.sent] == ["inquiry_request"]
    assert counted.since() == {("intermediate", CITY, "inquiry_sent"): 1}


@dataclass
class ProviderCity:
    """The provider's intermediate server with its list copy, a 副本 and a kept permit."""

    server: IntermediateServer
    recorder: Recorder
    inquiry: InquiryRequest


async def provider_city(*, with_list: bool = True) -> ProviderCity:
    recorder, book, linkage = (
        Recorder(SystemId.INTERMEDIATE, OTHER),
        MemoryIntermediateBook(),
        MemoryLinkage(),
    )
    if with_list:
        await book.put_list(LIST.version, [row.model_dump(mode="json") for row in LIST.rows])
    person = InternalPersonNumber("1000234567")
    code = await acquire(linkage, OTHER, person)
    fukuhon = MemoryFukuhon()
    await fukuhon.apply(FukuhonRegistration(person=person, data_item=ITEM, history=(DOSE,)))
    asked = InquiryRequest(inquiry_id=uuid4(), inquirer=CITY, provider=OTHER, person=code)
    permit = issue_permit(
        LIST, asked, procedure=PROCEDURE, data_items=[ITEM], now=datetime.now(UTC)
    )
    await book.put_permit(permit.permit_id, permit.inquiry_id, permit.model_dump(mode="json"))
    server = IntermediateServer(bridge(recorder), linkage, fukuhon, book, timedelta(hours=72), b"s")
    return ProviderCity(server, recorder, asked.model_copy(update={"permit_id": permit.permit_id}))


async def test_the_provider_counts_what_it_answers_and_what_it_refuses() -> None:
    side, bare = await provider_city(), await provider_city(with_list=False)
    carried = delivered(side.inquiry, SystemId.NWS, OTHER, SystemId.INTERMEDIATE)
    unlisted = delivered(bare.inquiry, SystemId.NWS, OTHER, SystemId.INTERMEDIATE)
    unpermitted = side.inquiry.model_copy(update={"permit_id": None})
    counted = Counted()

    assert await handled(side.server.on_inquiry, carried) == ["provision:provided"]
    # Withheld (no list copy to check the permit against, R35), and no permit at all (R36).
    assert await handled(bare.server.on_inquiry, unlisted) == ["provision:refused:no_local_list"]
    assert await handled(
        side.server.on_inquiry,
        delivered(unpermitted, SystemId.NWS, OTHER, SystemId.INTERMEDIATE),
    ) == ["refused:no_permit"]

    assert len(side.recorder.published) == 1
    assert counted.since() == {
        ("intermediate", OTHER, "provision_sent"): 1,
        ("intermediate", OTHER, "provision_refused"): 2,
    }


# --- VRS: transfers (F14, F15) and certificates (F17-F19) -------------------------------------


def vrs(recorder: Recorder, book: MemoryVrsBook, issuer: Issuer | None = None) -> Vrs:
    return Vrs(
        bridge(recorder),
        book,
        cast(Issuer, issuer),
        False,
        AUTHORITY.key.public_key(),
        CHIKUSEI_BODY,
    )


async def test_vrs_counts_the_transfers_it_answers_and_the_answers_it_takes_in() -> None:
    recorder, book = Recorder(SystemId.VRS), MemoryVrsBook()
    side = vrs(recorder, book)
    inquiry = example_payload("transfer_in_inquiry")
    provision = example_payload("transfer_out_provision")
    assert isinstance(inquiry, TransferInInquiry)
    assert isinstance(provision, TransferOutProvision)
    await book.put_transfer(provision.inquiry_id, OTHER, None)
    asked = delivered(inquiry, SystemId.VRS, OTHER, SystemId.VRS, city=CITY)
    answer = delivered(provision, SystemId.VRS, OTHER, SystemId.VRS, city=CITY)
    stranger = delivered(provision, SystemId.VRS, "082015", SystemId.VRS, city=CITY)
    counted = Counted()

    assert await handled(side.on_transfer_inquiry, asked) == ["transfer_out:no_record"]
    assert (await handled(side.on_transfer_provision, answer))[0].startswith("transfer_in:")
    # An answer from a city that was not asked is refused, and not counted.
    assert await handled(side.on_transfer_provision, stranger) == ["refused:unknown_inquiry"]

    assert counted.since() == {
        ("vrs", CITY, "transfer_provided"): 1,
        ("vrs", CITY, "transfer_answered"): 1,
    }


async def resident_with_card(book: MemoryVrsBook) -> MyNumberCard:
    """A target of this city's VRS with a dose, and their card."""
    registration = example_payload("target_registration")
    assert isinstance(registration, TargetRegistration)
    target = registration.targets[0]
    assert target.my_number is not None
    await book.put_target(target.model_dump() | {"my_number": target.my_number.reveal()})
    records = example_payload("transfer_out_provision")
    assert isinstance(records, TransferOutProvision)
    dose = records.doses[0]
    await book.put_dose(
        str(target.ticket_number), dose.dose_number, dose.model_dump(mode="json"), "site"
    )
    return AUTHORITY.issue(
        my_number=target.my_number.reveal(),
        name=str(target.name),
        birth_date=target.birth_date,
        sex=target.sex,
        address=str(target.address),
        pin="1234",
    )


APP = Terminal("app-0001", "app")


def application_of(card: MyNumberCard) -> CertificateApplication:
    return card.apply("1234", application_id=uuid4(), channel="app")


async def test_vrs_counts_the_certificates_it_issues_and_refuses() -> None:
    recorder, book = Recorder(SystemId.VRS), MemoryVrsBook()
    side = vrs(recorder, book, Issuer.generate("https://shc.example.jp/issuer"))
    card = await resident_with_card(book)
    good = delivered(
        application_of(card),
        SystemId.KIOSK,
        CITY,
        SystemId.VRS,
        item="covid.certificate",
        procedure="S19-16",
    )
    forged = example_payload("certificate_application")  # its card signature is no Ed25519
    bad = delivered(
        forged, SystemId.KIOSK, CITY, SystemId.VRS, item="covid.certificate", procedure="S19-16"
    )
    counted = Counted()

    assert await handled(side.on_application, good) == ["certificate:issued"]
    assert await handled(side.on_application, bad) == ["refused:card_signature"]

    assert [p.kind for p in recorder.sent] == ["certificate_issued"]
    assert counted.since() == {
        ("vrs", CITY, "certificate_issued"): 1,
        ("vrs", CITY, "certificate_refused"): 1,
    }


async def test_a_card_for_use_abroad_names_the_passport_and_every_card_the_city() -> None:
    """Issue 16: an overseas card carries the name on the passport (旅券関係情報), a domestic
    one the name of the register; each dose names the issuing municipality as performer;
    a dose whose product has no code gets no card (unknown_product), never CVX 213."""
    recorder, book = Recorder(SystemId.VRS), MemoryVrsBook()
    issuer = Issuer.generate("https://shc.example.jp/issuer")
    side = vrs(recorder, book, issuer)
    card = await resident_with_card(book)
    passport = PassportInfo(
        romanized_name="SESSHU HANAKO", nationality="JPN", passport_number="TZ1234567"
    )
    for use in ("overseas", "domestic"):
        application = card.apply(
            "1234", application_id=uuid4(), channel="app", use=use, passport=passport
        )
        envelope = delivered(
            application, SystemId.KIOSK, CITY, SystemId.VRS, item="covid.certificate"
        )
        assert await handled(side.on_application, envelope) == ["certificate:issued"]
    overseas, domestic = (
        verify(cast(CertificateIssued, payload).jws, [issuer]) for payload in recorder.sent
    )
    assert overseas.patient["name"] == [{"family": "SESSHU", "given": ["HANAKO"]}]
    assert domestic.patient["name"] != overseas.patient["name"]
    assert "SESSHU" not in json.dumps(domestic.patient)
    for shot in (*overseas.immunizations, *domestic.immunizations):
        assert shot["performer"] == [{"actor": {"display": CHIKUSEI_BODY.display}}]
    # A dose taken in from a former city names no performer: the records do not say who.
    ((ticket, number),) = book.dose_rows
    (dose,) = await book.doses(ticket)
    moved = dose | {"dose_number": number + 1, "vaccinated_on": "2021-09-01"}
    await book.put_dose(ticket, number + 1, moved, "transfer_in")
    application = card.apply("1234", application_id=uuid4(), channel="app")
    envelope = delivered(application, SystemId.KIOSK, CITY, SystemId.VRS, item="covid.certificate")
    assert await handled(side.on_application, envelope) == ["certificate:issued"]
    here, elsewhere = verify(cast(CertificateIssued, recorder.sent[-1]).jws, [issuer]).immunizations
    assert "performer" in here
    assert "performer" not in elsewhere
    ticket, number = max(book.dose_rows)  # a later dose of a product no code names
    (dose, *_) = await book.doses(ticket)
    later = dose | {"dose_number": number + 1, "product_name": "ダイチロナ筋注"}
    await book.put_dose(ticket, number + 1, later, "site")
    unknown = delivered(
        application_of(card), SystemId.KIOSK, CITY, SystemId.VRS, item="covid.certificate"
    )
    assert await handled(side.on_application, unknown) == ["refused:unknown_product"]


async def test_r05_vrs_uses_a_certificate_my_number_only_while_its_application_is_open() -> None:
    """The center waits `application_window` for a certificate; an application older than
    that (late behind a backlog, or replayed) is closed there, so VRS refuses it without
    looking its My Number up, and issues nothing."""
    recorder, book = Recorder(SystemId.VRS), MemoryVrsBook()
    side = vrs(recorder, book, Issuer.generate("https://shc.example.jp/issuer"))
    side.application_window = timedelta(seconds=20)
    card = await resident_with_card(book)
    fresh = delivered(
        application_of(card), SystemId.KIOSK, CITY, SystemId.VRS, item="covid.certificate"
    )
    late = fresh.model_copy(update={"sent_at": datetime.now(UTC) - timedelta(minutes=2)})
    looked_up: list[str | None] = []
    lookup = book.target

    async def spied(**where: Any) -> Any:
        looked_up.append(where.get("my_number"))
        return await lookup(**where)

    book.target = spied  # type: ignore[method-assign]
    assert await handled(side.on_application, late) == ["refused:application_closed"]
    assert looked_up == []
    assert recorder.sent == []
    assert recorder.refusals == [(late.id, "application_closed")]  # the center is told
    assert await handled(side.on_application, fresh) == ["certificate:issued"]
    assert len(looked_up) == 1


async def test_a_card_says_what_the_register_says_or_nothing() -> None:
    """A valid card of another name under a registered My Number (a typed number at the
    counter, a mistaken one) gets no certificate: VRS issues what its register says."""
    recorder, book = Recorder(SystemId.VRS), MemoryVrsBook()
    issuer = Issuer.generate("https://shc.example.jp/issuer")
    side = vrs(recorder, book, issuer)
    card = await resident_with_card(book)
    (target,) = book.targets.values()
    for changes in ({"name": "別人 太郎"}, {"birth_date": date(1999, 9, 9)}):
        fields = {
            "my_number": target["my_number"],
            "name": target["name"],
            "birth_date": date.fromisoformat(str(target["birth_date"])),
            "sex": target["sex"],
            "address": "茨城県筑西市丙360",
            "pin": "1234",
        } | changes
        other = AUTHORITY.issue(**fields)
        envelope = delivered(
            application_of(other), SystemId.KIOSK, CITY, SystemId.VRS, item="covid.certificate"
        )
        assert await handled(side.on_application, envelope) == ["refused:identity_mismatch"]
    assert recorder.sent == []
    assert [code for _, code in recorder.refusals] == ["identity_mismatch"] * 2
    good = delivered(
        application_of(card), SystemId.KIOSK, CITY, SystemId.VRS, item="covid.certificate"
    )
    assert await handled(side.on_application, good) == ["certificate:issued"]
    (issued,) = recorder.sent
    shown = verify(cast(CertificateIssued, issued).jws, [issuer]).patient
    assert shown["birthDate"] == str(target["birth_date"])


# --- the certificate center ---------------------------------------------------------------


async def test_the_center_counts_the_certificates_it_hands_over_and_those_it_cannot() -> None:
    recorder = Recorder(SystemId.KIOSK)
    center = CertificateCenter(
        bridge(recorder),
        AUTHORITY.key.public_key(),
        [CITY],
        RosterFile(None),
        MemoryApplicationLog(),
        5.0,
    )
    card = await resident_with_card(MemoryVrsBook())
    counted = Counted()

    application = application_of(card)
    waiting = asyncio.create_task(center.apply(application, APP))
    await recorder.has_sent.wait()  # the application went to VRS
    issued = CertificateIssued(
        application_id=application.application_id,
        certificate_id="CERT-0001",
        issued_on=date(2026, 11, 26),
        jws="a.b.c",
    )
    # Only this city's VRS hands certificates over: another sender's is refused.
    assert await handled(
        center.on_issued, delivered(issued, SystemId.HEALTH_MGMT, CITY, SystemId.KIOSK)
    ) == ["refused:not_this_citys_vrs"]
    assert await handled(
        center.on_issued, delivered(issued, SystemId.VRS, OTHER, SystemId.KIOSK, city=CITY)
    ) == ["refused:not_this_citys_vrs"]
    # ... and only in answer to the envelope this center sent, not one naming its id.
    assert await handled(
        center.on_issued, delivered(issued, SystemId.VRS, CITY, SystemId.KIOSK)
    ) == ["certificate:nobody_waiting"]
    assert not waiting.done()
    (sent,) = recorder.message_ids
    answer = delivered(issued, SystemId.VRS, CITY, SystemId.KIOSK, causation_id=sent)
    assert await handled(center.on_issued, answer) == ["certificate:handed_over"]
    assert (await waiting).certificate_id == "CERT-0001"
    forged = example_payload("certificate_application")  # its card signature is no Ed25519
    assert isinstance(forged, CertificateApplication)
    with pytest.raises(CardRejected):
        await center.apply(forged, APP)
    # VRS's refusal reaches the terminal at once, with its code.
    refused_one = application_of(card)
    waiting = asyncio.create_task(center.apply(refused_one, APP))
    while len(recorder.message_ids) < 2:  # noqa: ASYNC110 - the center's send, then ours
        await asyncio.sleep(0)
    notice = DeliveryRefusal(
        refused_message_id=recorder.message_ids[-1],
        reason_code="identity_mismatch",
        reason="the certificate application: identity_mismatch",
    )
    told = delivered(notice, SystemId.VRS, CITY, SystemId.KIOSK)
    assert await handled(center.on_refused, told) == ["certificate:refused:identity_mismatch"]
    with pytest.raises(CertificateRefused, match="identity_mismatch"):
        await waiting
    center.wait_seconds = 0.01
    with pytest.raises(NoCertificate):
        await center.apply(application_of(card), APP)
    outcomes = [(e.outcome, e.reason) for e in center.log.entries]  # type: ignore[attr-defined]
    assert outcomes == [
        ("taken", None),
        ("issued", None),
        ("refused", "card_signature"),
        ("taken", None),
        ("vrs_refused", "identity_mismatch"),
        ("taken", None),
        ("unanswered", None),
    ]

    assert counted.since() == {
        ("kiosk", CITY, "certificate_issued"): 1,
        ("kiosk", CITY, "certificate_refused"): 3,
    }


class SlowLog(MemoryApplicationLog):
    """A record that takes its time, as a database does: each call yields."""

    async def known(self, application_id: UUID) -> bool:
        await asyncio.sleep(0.01)
        return await super().known(application_id)

    async def log(self, entry: ApplicationEntry) -> None:
        await asyncio.sleep(0.01)
        await super().log(entry)


async def test_one_id_sent_by_two_terminals_at_once_is_one_application() -> None:
    """Two requests with one application id, at once: one is taken, the other refused as
    a duplicate (the id is reserved before the first await); the certificate answers the
    envelope sent, so it reaches the terminal that sent it and no other."""
    recorder = Recorder(SystemId.KIOSK)
    center = CertificateCenter(
        bridge(recorder), AUTHORITY.key.public_key(), [CITY], RosterFile(None), SlowLog(), 5.0
    )
    card = await resident_with_card(MemoryVrsBook())
    application = application_of(card)
    other = Terminal("app-0002", "app")
    first = asyncio.create_task(center.apply(application, APP))
    second = asyncio.create_task(center.apply(application, other))
    with pytest.raises(DuplicateApplication):
        await second
    await recorder.has_sent.wait()
    (sent,) = recorder.message_ids
    issued = CertificateIssued(
        application_id=application.application_id,
        certificate_id="CERT-0002",
        issued_on=date(2026, 11, 26),
        jws="a.b.c",
    )
    answer = delivered(issued, SystemId.VRS, CITY, SystemId.KIOSK, causation_id=sent)
    assert await handled(center.on_issued, answer) == ["certificate:handed_over"]
    assert (await first).certificate_id == "CERT-0002"
    log = cast(SlowLog, center.log)
    assert [(e.terminal, e.outcome, e.reason) for e in log.entries] == [
        ("app-0002", "refused", "duplicate_application"),
        ("app-0001", "taken", None),
        ("app-0001", "issued", None),
    ]
    # A refusal from anyone but this city's VRS, or naming no envelope sent, changes nothing.
    late = DeliveryRefusal(refused_message_id=sent, reason_code="no_record", reason="late")
    for sender, city in ((SystemId.HEALTH_MGMT, CITY), (SystemId.VRS, OTHER)):
        notice = delivered(late, sender, city, SystemId.KIOSK, city=CITY)
        assert (await handled(center.on_refused, notice))[0].startswith("refused_by_recipient")
