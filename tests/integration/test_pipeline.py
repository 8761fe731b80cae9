"""The hub over real RabbitMQ and PostgreSQL: delivered once, journaled once, or refused."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from contracts.broker import DEAD_QUEUE, INGRESS_QUEUE, adapter_queue
from contracts.canonical import canonical_bytes
from contracts.codes import SystemId
from contracts.envelope import Envelope, Party, Recipient
from contracts.keys import generate_key
from contracts.payloads import ResidentStatusFlag
from contracts.signing import Signer
from tests.harness import CHIKUSEI, YUKI, HubProcess, Services
from tests.probes import (
    delivered,
    drain_queue,
    fetchval,
    journaled,
    queue_depths,
    settled,
    topology_ready,
    wait_for,
)
from tests.traffic import publish, signed_traffic

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


async def test_ten_thousand_messages_are_delivered_once_and_a_replay_delivers_nothing(
    services: Services,
) -> None:
    traffic = signed_traffic(services, 10_000)
    expected_queue = {}
    for message_id, body in traffic:
        document = json.loads(body)
        recipient = document["recipient"]
        expected_queue[message_id] = adapter_queue(recipient["system"], recipient["municipality"])
    # With no crash, every row must go out exactly once, published by its writer and
    # marked within its claim. The claim here keeps the documented rule (longer than the
    # publish timeout): the harness's 2 s claim, made to hurry the relay in the crash
    # tests, is shorter than a burst's publish-and-confirm on a slow machine, and then the
    # relay rightly republishes rows whose mark came late (at least once; consumers dedupe).
    hub = HubProcess(
        services,
        extra_env={
            "SESSHU_HUB__OUTBOX_CLAIM_SECONDS": "15",
            "SESSHU_AMQP__PUBLISH_TIMEOUT_SECONDS": "10",
        },
    ).start()
    try:
        await wait_for(lambda: topology_ready(services), 30, "the hub to declare its topology")
        await publish(services.amqp_url, [body for _, body in traffic])
        await wait_for(
            lambda: settled(services, 10_000), 240, "10,000 messages journaled and published"
        )
        first = await delivered(services)
        ids = [message_id for ids in first.values() for message_id in ids]
        assert len(ids) == 10_000
        assert Counter(ids).most_common(1)[0][1] == 1
        assert {i: q for q, queue_ids in first.items() for i in queue_ids} == expected_queue
        assert (
            await fetchval(
                services,
                "SELECT count(DISTINCT message_id) FROM journal WHERE decision = 'deliver'",
            )
            == 10_000
        )

        # The same 10,000 again, then one fresh marker: when the marker is journaled, every
        # replayed message before it in the queue has been handled.
        ((marker_id, marker),) = signed_traffic(services, 1)
        await publish(services.amqp_url, [body for _, body in traffic] + [marker])
        await wait_for(lambda: settled(services, 10_001), 240, "the replay and the marker")
        second = await delivered(services)
        assert [i for ids in second.values() for i in ids] == [marker_id]
        assert await journaled(services) == 10_001
        assert (await queue_depths(services.amqp_url, [INGRESS_QUEUE]))[INGRESS_QUEUE] == 0
    finally:
        assert hub.stop() == 0, hub.log()


def _sign_document(signer: Signer, document: dict[str, Any]) -> bytes:
    document = {k: v for k, v in document.items() if k != "signature"}
    document["signature"] = signer.sign_bytes(canonical_bytes(document))
    return canonical_bytes(document)


def _envelope(services: Services, **changes: Any) -> Envelope:
    flag = ResidentStatusFlag(basic_code="4242", flag="deceased", effective_on="2026-11-02")
    fields: dict[str, Any] = {
        "municipality": CHIKUSEI,
        "sender": Party(system=SystemId.HEALTH_MGMT, instance="t-1"),
        "recipient": Recipient(system=SystemId.VRS, municipality=CHIKUSEI),
        "procedure": "S19-16",
        "data_items": ("covid.resident_status",),
    }
    return services.envelope(flag, **(fields | changes))


def rejection_cases(services: Services) -> dict[str, tuple[bytes, str]]:
    """reason code -> (wire bytes, text the reason must contain)."""
    ims = services.signer(SystemId.HEALTH_MGMT, CHIKUSEI)
    vrs = services.signer(SystemId.VRS, CHIKUSEI)
    yesterday = datetime.now(UTC) - timedelta(days=1)
    stranger = generate_key(SystemId.HEALTH_MGMT, CHIKUSEI, key_id="stranger-1")
    revoked = generate_key(SystemId.HEALTH_MGMT, CHIKUSEI, key_id="revoked-1", valid_from=yesterday)
    entry = revoked.entry.model_copy(update={"revoked": True})
    (services.ring_dir / "revoked-1.json").write_text(json.dumps(entry.model_dump(mode="json")))

    def good(**changes: Any) -> Envelope:
        return _envelope(services, **({"key_id": ims.key_id} | changes))

    valid = ims.sign(good()).to_bytes()
    broken = ims.sign(good()).to_document()
    broken["sender"]["instance"] = "Not An Instance"
    hour_ago = good().sent_at - timedelta(hours=1)
    return {
        "bad_signature": (valid.replace(b'"S19-16"', b'"S19-17"'), "does not verify"),
        "unknown_key": (
            Signer("stranger-1", stranger.signing).sign(good(key_id="stranger-1")).to_bytes(),
            "key_id: names no key in the key ring",  # never the id it names
        ),
        "revoked_key": (
            Signer("revoked-1", revoked.signing).sign(good(key_id="revoked-1")).to_bytes(),
            "revoked",
        ),
        "contract_invalid": (_sign_document(ims, broken), "sender.instance"),
        "wrong_tenant": (
            ims.sign(
                good(municipality=YUKI, recipient=Recipient(system="vrs", municipality=YUKI))
            ).to_bytes(),
            "municipality",
        ),
        "key_not_bound": (vrs.sign(good(key_id=vrs.key_id)).to_bytes(), "sender system"),
        "stale_message": (ims.sign(good(sent_at=hour_ago)).to_bytes(), "outside the window"),
        "unroutable": (
            ims.sign(good(recipient=Recipient(system="vrs", municipality="131016"))).to_bytes(),
            "recipient: no adapter queue",
        ),
    }


async def test_every_rejection_is_journaled_with_its_reason_and_dead_lettered(
    services: Services,
) -> None:
    cases = rejection_cases(services)
    hub = HubProcess(services).start()
    try:
        await wait_for(lambda: topology_ready(services), 30, "the hub's topology")
        await publish(services.amqp_url, [body for body, _ in cases.values()] + [b"\x00not json"])
        await wait_for(lambda: settled(services, len(cases) + 1), 60, "every rejection journaled")
        dead = await drain_queue(services.amqp_url, DEAD_QUEUE)
        by_code = {str(m.headers["x-sesshu-reason-code"]): m for m in dead}
        assert set(by_code) == {*cases, "contract_invalid"}
        assert len(dead) == len(cases) + 1
        for code, (body, text) in cases.items():
            message = (
                by_code[code]
                if code != "contract_invalid"
                else next(m for m in dead if m.body == body)
            )
            assert message.body == body
            assert text in str(message.headers["x-sesshu-reason"])
            assert message.routing_key == code
        connection = await asyncpg.connect(services.database_url)
        try:
            rows = await connection.fetch("SELECT decision, reason_code, reason FROM journal")
        finally:
            await connection.close()
        assert {r["decision"] for r in rows} == {"reject"}
        assert Counter(r["reason_code"] for r in rows) == Counter(
            {**dict.fromkeys(cases, 1), "contract_invalid": 2}
        )
        assert all("4242" not in (r["reason"] or "") for r in rows)
        assert not any((await delivered(services)).values())
    finally:
        assert hub.stop() == 0, hub.log()
