"""`sesshu demo`: what runs today, end to end, on one machine.

Keys for every system of two municipalities, one signed envelope of every message kind
verified as the hub will verify it, a payload sealed across municipalities, and each way a
forged or broken envelope is refused; then the same envelopes through a live hub worker
over RabbitMQ and PostgreSQL. The whole stack and its simulators are `sesshu stack demo`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from contracts.broker import destinations
from contracts.canonical import canonical_bytes
from contracts.codes import SystemId
from contracts.envelope import Envelope, Party, Recipient, new_message_id
from contracts.examples import EXAMPLE_KINDS, example_payload
from contracts.keys import GeneratedKey, KeyRing, generate_key
from contracts.payloads import ProvisionResponse, ReviewCopy, ReviewSubject, TransferOutProvision
from contracts.sealing import addressed_envelope, open_sealed, seal, sealed_review, sealing_secret
from contracts.signing import Freshness, Signer, VerificationError, parse_and_verify
from hub.pipeline import Triage
from hub.settings import Settings
from routing.decision import Context
from routing.policy import load_policy
from stack import walkthrough_live

CHIKUSEI = "082279"
YUKI = "082074"
MUNICIPALITIES = (CHIKUSEI, YUKI)
LOCAL_SYSTEMS = (SystemId.HEALTH_MGMT, SystemId.INTERMEDIATE, SystemId.VRS, SystemId.KIOSK)
# Each city's desk holds a review key: a provision's review copy is sealed to it (R37).
CITY_KEYS = (*LOCAL_SYSTEMS, SystemId.DESK)

# Who sends each kind to whom (flows F1-F20 of domain.md), under which procedure and data
# item: every route is a row of the sample permitted-inquiry list (routing/policies).
H, IS, NWS, VRS, KIOSK, HUB = (
    SystemId.HEALTH_MGMT,
    SystemId.INTERMEDIATE,
    SystemId.NWS,
    SystemId.VRS,
    SystemId.KIOSK,
    SystemId.HUB,
)
ROUTES: dict[str, tuple[SystemId, SystemId, str, str]] = {
    "vaccination_record": (H, IS, "B1-10", "vaccination.record"),
    "fukuhon_registration": (H, IS, "B2-115-2", "vaccination.history"),
    "target_registration": (H, VRS, "S19-16", "covid.target"),
    "dose_record": (VRS, H, "S19-16", "covid.dose"),
    "vaccination_export": (VRS, H, "S19-16", "covid.vaccination_record"),
    "transfer_in_inquiry": (VRS, VRS, "S19-16", "covid.vaccination_record"),
    "transfer_out_provision": (VRS, VRS, "S19-16", "covid.vaccination_record"),
    "resident_status_flag": (H, VRS, "S19-16", "covid.resident_status"),
    "certificate_application": (KIOSK, VRS, "S19-16", "covid.certificate"),
    "certificate_issued": (VRS, KIOSK, "S19-16", "covid.certificate"),
    "inquiry_request": (IS, NWS, "B2-115-2", "vaccination.history"),
    "provision_permit": (NWS, IS, "B2-115-2", "network.permit"),
    "provision_response": (IS, NWS, "B2-115-2", "vaccination.history"),
    "inquiry_result": (IS, H, "B2-115-2", "vaccination.history"),
    "provision_record": (IS, H, "B2-115-2", "network.provision_record"),
    "permitted_list_update": (NWS, IS, "S19-8", "network.permitted_list"),
    "linkage_registration": (IS, NWS, "S19-8", "network.linkage"),
    "self_information_request": (NWS, IS, "B2-115-2", "self.vaccination_history"),
    "resident_notice": (IS, NWS, "B2-115-2", "notice.vaccination"),
    "approval_attestation": (HUB, IS, "B2-115-2", "vaccination.history"),
    "rejection_notice": (HUB, H, "B2-115-2", "vaccination.history"),
    "delivery_refusal": (VRS, H, "S19-16", "covid.resident_status"),
}
CROSS_MUNICIPALITY = frozenset({"transfer_in_inquiry", "transfer_out_provision"})


@dataclass
class Keys:
    """The demo's keys: one per system and municipality, one each for hub and network."""

    generated: dict[tuple[SystemId, str | None], GeneratedKey]

    @classmethod
    def create(cls, directory: Path) -> Keys:
        """Generate every key and write it under `directory`."""
        start = datetime.now(UTC) - timedelta(days=1)
        owners: list[tuple[SystemId, str | None]] = [
            (system, code) for code in MUNICIPALITIES for system in CITY_KEYS
        ]
        owners += [(SystemId.HUB, None), (SystemId.NWS, None)]
        generated = {
            (system, code): generate_key(
                system, code, valid_from=start, key_id=f"{system.value}-{code or 'shared'}-demo"
            )
            for system, code in owners
        }
        for key in generated.values():
            key.write(directory)
        return cls(generated)

    def ring(self) -> KeyRing:
        """The hub's key ring: every public entry."""
        return KeyRing([key.entry for key in self.generated.values()])

    def review_keys(self, key_id: str, municipality: str) -> X25519PrivateKey:
        """The desk's private review key of a key id, if it is `municipality`'s (KeyError
        for any other)."""
        key = self.generated.get((SystemId.DESK, municipality))
        if key is None or key.entry.key_id != key_id:
            raise KeyError(key_id)
        return key.sealing

    def of(self, system: SystemId, municipality: str) -> GeneratedKey:
        """The key a system signs with for a municipality."""
        shared = system in (SystemId.HUB, SystemId.NWS)
        return self.generated[(system, None if shared else municipality)]


def envelope_for(kind: str, keys: Keys) -> Envelope:
    """A signed example envelope of `kind` from Chikusei, as its sender would publish it."""
    sender, recipient, procedure, data_item = ROUTES[kind]
    target = YUKI if kind in CROSS_MUNICIPALITY else CHIKUSEI
    key = keys.of(sender, CHIKUSEI)
    signer = Signer(key.entry.key_id, key.signing)
    payload, message_id = example_payload(kind), new_message_id()
    review = None
    if isinstance(payload, ProvisionResponse | TransferOutProvision):
        # A provision's review copy, sealed to Chikusei's desk, for its 所属長 (R37).
        copy = ReviewCopy(
            inquirer=target,
            inquirer_system=SystemId.INTERMEDIATE
            if isinstance(payload, ProvisionResponse)
            else SystemId.VRS,
            subject=ReviewSubject(),
            provision=payload,
        )
        review = sealed_review(copy, keys.ring(), CHIKUSEI, envelope_id=message_id)
    # A kind that identifies a person is sealed to its recipient (SEALED_KINDS).
    envelope = addressed_envelope(
        keys.ring(),
        payload=payload,
        message_id=message_id,
        review=review,
        secret=sealing_secret(signer),
        municipality=CHIKUSEI,
        sender=Party(system=sender, instance=f"{sender.value.replace('_', '-')}-1"),
        recipient=Recipient(system=recipient, municipality=target),
        procedure=procedure,
        data_items=(data_item,),
        key_id=key.entry.key_id,
    )
    return signer.sign(envelope)


def forgeries(keys: Keys) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """Broken or forged envelopes, each meant to be refused for a different reason."""
    good = envelope_for("resident_status_flag", keys)
    vrs = keys.of(SystemId.VRS, CHIKUSEI)
    yield "sealed payload changed in transit", lambda: _flipped(good)
    yield "unknown key", lambda: good.to_bytes().replace(good.key_id.encode(), b"stolen-key-1")
    yield "VRS key used for health management", lambda: _resign(good, vrs)
    yield "Yuki's key claims Chikusei", lambda: _resign(good, keys.of(SystemId.HEALTH_MGMT, YUKI))
    yield "sent an hour ago", lambda: _resign(good, keys.of(SystemId.HEALTH_MGMT, CHIKUSEI), -3600)
    yield "not canonical JSON", lambda: good.to_bytes().replace(b"{", b"{ ", 1)


def _flipped(envelope: Envelope) -> bytes:
    """The envelope with one character of its sealed ciphertext changed, signature kept."""
    document = envelope.to_document()
    text = document["payload"]["ciphertext"]
    document["payload"]["ciphertext"] = ("B" if text[0] == "A" else "A") + text[1:]
    return canonical_bytes(document)


def _resign(envelope: Envelope, key: GeneratedKey, shift: float = 0) -> bytes:
    moved = envelope.model_copy(
        update={
            "key_id": key.entry.key_id,
            "sent_at": envelope.sent_at + timedelta(seconds=shift),
        }
    )
    return Signer(key.entry.key_id, key.signing).sign(moved).to_bytes()


def run(directory: Path, echo: Callable[[str], None], live: Settings | None = None) -> int:
    """Run the demo, writing keys under `directory`; return the number of surprises.

    With `live` settings, the same envelopes then go through a real hub worker.
    """
    keys = Keys.create(directory / "keys")
    ring, fresh, now = keys.ring(), Freshness(), datetime.now(UTC)
    echo(f"key ring: {len(ring)} keys for {', '.join(MUNICIPALITIES)} (+ hub, network)")
    surprises = 0
    echo("\nsigned envelopes, verified as the hub verifies them:")
    for kind in EXAMPLE_KINDS:
        wire = envelope_for(kind, keys).to_bytes()
        envelope, entry = parse_and_verify(wire, ring, now=now, freshness=fresh)
        route = f"{envelope.sender.system.value} -> {envelope.recipient.routing_key}"
        echo(f"  ok  {kind:<26} {route:<36} {len(wire):>5} B  key {entry.key_id}")
    echo("\nsealed across municipalities (R43):")
    provision = example_payload("transfer_out_provision")
    yuki_vrs = keys.of(SystemId.VRS, YUKI)
    message_id = new_message_id()
    sealed = seal(
        provision,
        recipient_key_id=yuki_vrs.entry.key_id,
        recipient=yuki_vrs.entry.sealing_key(),
        envelope_id=message_id,
    )
    opened = open_sealed(
        sealed, private_key=yuki_vrs.sealing, envelope_id=message_id, kind=provision.kind
    )
    surprises += opened != provision
    echo(
        f"  transfer_out_provision sealed to {yuki_vrs.entry.key_id}: opened {opened == provision}"
    )
    echo("\nforged or broken envelopes, each refused with its reason:")
    for label, make in forgeries(keys):
        try:
            parse_and_verify(make(), ring, now=now, freshness=fresh)
        except VerificationError as exc:
            echo(f"  refused  {label:<36} {exc.code}")
        else:
            surprises += 1
            echo(f"  ACCEPTED {label}  <- this is a bug")
    if live is not None:
        surprises += _live(keys, live, echo)
    return surprises


def _live(keys: Keys, settings: Settings, echo: Callable[[str], None]) -> int:
    settings = walkthrough_live.demo_settings(settings)
    echo(f"\nthrough a live hub worker (vhost and database {walkthrough_live.DEMO_NAME}):")
    triage = Triage(
        ring=keys.ring(),
        freshness=settings.signing.freshness(),
        policy=load_policy(settings.routing.directory()),
        context=Context(destinations=destinations(MUNICIPALITIES)),
    )
    bodies = [(kind, envelope_for(kind, keys).to_bytes()) for kind in EXAMPLE_KINDS]
    bodies += [(label, make()) for label, make in forgeries(keys)]
    hub = keys.of(SystemId.HUB, CHIKUSEI)
    signer = Signer(hub.entry.key_id, hub.signing)
    return asyncio.run(
        walkthrough_live.through_the_hub(
            settings, triage, bodies, echo, signer, review_keys=keys.review_keys
        )
    )
