"""My Numbers, names, addresses and birth dates never reach a log, a header or a reason.

The hub runs at DEBUG with traffic full of personal data, sealed as adapters send it and in
plaintext as a careless sender might (refused: a kind that identifies a person travels
sealed); afterwards its whole log, every dead-letter header and every journaled reason are
searched for it, and what it delivered holds none of it readable.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from contracts.broker import DEAD_QUEUE
from contracts.canonical import canonical_bytes
from contracts.codes import SystemId
from contracts.envelope import Envelope, Party, Recipient
from contracts.examples import PERSONAL_VALUES, example_payload
from contracts.signing import Signer
from tests.harness import CHIKUSEI, YUKI, HubProcess, Services
from tests.probes import drain_queue, settled, topology_ready, wait_for
from tests.traffic import publish

pytestmark = pytest.mark.integration
DATA_ITEM = {
    "target_registration": "covid.target",
    "transfer_in_inquiry": "covid.vaccination_record",
}


def personal_traffic(services: Services) -> list[bytes]:
    """Targets and a transfer-in inquiry sealed, as adapters send them; and, as a careless
    or hostile sender might, the same in plaintext, one of them broken."""
    ims = services.signer(SystemId.HEALTH_MGMT, CHIKUSEI)
    vrs = services.signer(SystemId.VRS, CHIKUSEI)

    def envelope(kind: str, system: SystemId, recipient: tuple[str, str], key_id: str) -> Envelope:
        return services.envelope(
            example_payload(kind),
            municipality=CHIKUSEI,
            sender=Party(system=system, instance="t-1"),
            recipient=Recipient(system=recipient[0], municipality=recipient[1]),
            procedure="S19-16",
            data_items=(DATA_ITEM[kind],),
            key_id=key_id,
        )

    def in_plaintext(sealed: Envelope, signer: Signer, **changes: Any) -> bytes:
        document: dict[str, Any] = sealed.to_document()
        document["payload"] = example_payload(sealed.kind).model_dump(mode="json")
        for path, value in changes.items():
            document["payload"]["targets"][0][path] = value
        document.pop("signature")
        document["signature"] = signer.sign_bytes(canonical_bytes(document))
        return canonical_bytes(document)

    targets = ims.sign(
        envelope("target_registration", SystemId.HEALTH_MGMT, ("vrs", CHIKUSEI), ims.key_id)
    )
    inquiry = vrs.sign(envelope("transfer_in_inquiry", SystemId.VRS, ("vrs", YUKI), vrs.key_id))
    broken = envelope("target_registration", SystemId.HEALTH_MGMT, ("vrs", CHIKUSEI), ims.key_id)
    return [
        targets.to_bytes(),
        inquiry.to_bytes(),
        in_plaintext(broken, ims, sex=3),
        in_plaintext(
            vrs.sign(envelope("transfer_in_inquiry", SystemId.VRS, ("vrs", YUKI), vrs.key_id)), vrs
        ),
    ]


async def test_no_personal_data_in_logs_headers_or_reasons(services: Services) -> None:
    bodies = personal_traffic(services)
    hub = HubProcess(services, extra_env={"SESSHU_LOG_LEVEL": "DEBUG"}).start()
    try:
        await wait_for(lambda: topology_ready(services), 30, "the hub's topology")
        await publish(services.amqp_url, bodies)
        await wait_for(lambda: settled(services, len(bodies)), 60, "every message journaled")
        dead = await drain_queue(services.amqp_url, DEAD_QUEUE)
        assert len(dead) == 2
        connection = await asyncpg.connect(services.database_url)
        try:
            reasons = [
                r["reason"] or "" for r in await connection.fetch("SELECT reason FROM journal")
            ]
            delivered = [
                bytes(r["canonical"])
                for r in await connection.fetch(
                    "SELECT canonical FROM journal WHERE decision = 'deliver'"
                )
            ]
        finally:
            await connection.close()
    finally:
        assert hub.stop() == 0, hub.log()
    # What the hub delivered it journaled sealed: nothing of a person is readable there.
    assert len(delivered) == 2
    for body in delivered:
        for value in PERSONAL_VALUES:
            assert value.encode() not in body
    shown = [hub.log(), *reasons, *(str(m.headers) for m in dead)]
    assert any("targets.0.sex" in text for text in shown)  # the field is named ...
    assert any("travels sealed (R43)" in text for text in reasons)
    for text in shown:
        for value in PERSONAL_VALUES:  # ... and nothing personal is
            assert value not in text
