"""Signed benchmark traffic: fresh VaccinationRecord envelopes the hub accepts and delivers."""

from __future__ import annotations

from dataclasses import dataclass

from bench.services import SENDERS, BenchServices
from contracts.envelope import Party, Recipient
from contracts.examples import example_payload
from contracts.keys import KeyRing
from contracts.payloads import VaccinationRecord
from contracts.sealing import addressed_envelope, sealing_secret
from contracts.signing import Signer

__all__ = ["KIND", "BenchMessage", "signed_messages"]

KIND = "vaccination_record"


@dataclass(frozen=True, slots=True)
class BenchMessage:
    """One message to publish: its id, its wire bytes and the delivery key it will get."""

    message_id: str
    body: bytes
    destination: str  # `<system>.<municipality>`: the hub's routing key on sesshu.deliver


def signed_messages(services: BenchServices, count: int) -> list[BenchMessage]:
    """`count` envelopes with fresh UUIDv7 ids, sent_at now, round-robin over the senders.

    A VaccinationRecord, the bulk message of the system, sealed to the intermediate server
    as every record travels, makes each envelope about 2 KB (the plaintext is about 1.3 KB).
    Sealing happens here, before the run: it is the sender's cost, not the hub's.
    Call this just before a run: the hub refuses envelopes older than its freshness window.
    """
    template = example_payload(KIND).model_dump()
    ring = KeyRing.load(services.ring_dir)
    secrets = {s.key_id: sealing_secret(s) for s in services.signers.values()}
    signers: list[tuple[Signer, Party, Recipient, str]] = []
    for system, municipality, recipient_system in SENDERS:
        recipient = Recipient(system=recipient_system, municipality=municipality)
        sender = Party(system=system, instance=f"{system.value.replace('_', '-')}-1")
        signers.append((services.signers[(system, municipality)], sender, recipient, municipality))
    messages = []
    for index in range(count):
        signer, sender, recipient, municipality = signers[index % len(signers)]
        # A different person per message, so the bodies are not byte-identical but for the id.
        payload = VaccinationRecord.model_validate(
            template | {"basic_code": str(1_000_000_000 + index)}
        )
        envelope = addressed_envelope(
            ring,
            payload=payload,
            secret=secrets[signer.key_id],
            municipality=municipality,
            sender=sender,
            recipient=recipient,
            procedure="B1-10",
            data_items=("vaccination.record",),
            key_id=signer.key_id,
        )
        signed = signer.sign(envelope)
        messages.append(BenchMessage(str(signed.id), signed.to_bytes(), recipient.routing_key))
    return messages
