"""`sesshu trace` against the real hub, RabbitMQ and PostgreSQL: a delivered message, a
held reply approved, one rejected, a refused one; traced by message id, by correlation id
and by journal seq; as a timeline and as JSON; an unknown id is exit 1."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contracts.codes import SystemId
from contracts.envelope import Envelope
from hub.approvals import Role
from hub.desk import Desk, Terminal
from hub.service import open_desk
from tests.harness import CHIKUSEI, PASSWORD, YUKI, HubProcess, Services
from tests.integration.test_desk_cli import sesshu
from tests.ops import journal_seq, status_flag, unroutable
from tests.probes import held, published, topology_ready, wait_for
from tests.traffic import provision, publish

pytestmark = pytest.mark.integration
TERMINAL = Terminal("192.0.2.20", "pytest-trace/1.0")
TERMINALS = (f"{TERMINAL.client}/32",)  # the account's terminal (R26/R27)
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def hub(services: Services, policy_dir: Path) -> Iterator[HubProcess]:
    process = HubProcess(
        services, extra_env={"SESSHU_ROUTING__POLICY_DIR": str(policy_dir)}
    ).start()
    try:
        asyncio.run(wait_for(lambda: topology_ready(services), 30, "the hub's topology"))
    except AssertionError:
        process.kill()
        raise AssertionError(process.log()) from None
    yield process
    assert process.stop() == 0, process.log()


def trace_json(services: Services, key: str) -> dict[str, Any]:
    result = sesshu(services, "trace", key, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def trace_text(services: Services, key: str) -> str:
    result = sesshu(services, "trace", key)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def events(document: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["what"], e["text"]) for e in document["timeline"]]


async def _flows(services: Services, policy_dir: Path) -> dict[str, Envelope]:
    """A delivered message, a held reply approved, one rejected, one refused."""
    desk = await open_desk(services.settings(SESSHU_ROUTING__POLICY_DIR=str(policy_dir)))
    try:
        await desk.add_staff(
            "aoki",
            roles=[Role.APPROVER],
            municipality=YUKI,
            department="health-promotion",
            password=PASSWORD,
            terminals=TERMINALS,
        )
        return await _decided(services, desk)
    finally:
        await desk.store.close()


async def _decided(services: Services, desk: Desk) -> dict[str, Envelope]:
    signer = services.signer(SystemId.HEALTH_MGMT, CHIKUSEI)
    delivered = status_flag(services, signer, traceparent=TRACEPARENT)
    refused = unroutable(services)
    await publish(services.amqp_url, [delivered.to_bytes(), refused.to_bytes()])
    approved, rejected = provision(services), provision(services)
    for reply in (approved, rejected):
        await held(services, reply)
    _, aoki = await desk.login("aoki", PASSWORD, TERMINAL)
    view = await desk.show(aoki, str(approved.id), TERMINAL)
    await desk.approve(
        aoki, str(approved.id), terminal=TERMINAL, content_sha256=view.content_sha256
    )
    await desk.reject(aoki, str(rejected.id), terminal=TERMINAL, comment="対象外の照会")
    await journal_seq(services, "unroutable")
    await wait_for(lambda: published(services), 30, "everything published")
    return {
        "delivered": delivered,
        "approved": approved,
        "rejected": rejected,
        "refused": refused,
    }


def test_trace_tells_each_journey_from_the_journal_and_the_audit_trail(
    services: Services, hub: HubProcess, policy_dir: Path
) -> None:
    flows = asyncio.run(_flows(services, policy_dir))

    delivered = trace_json(services, str(flows["delivered"].id))
    (hop,) = delivered["messages"]
    assert hop["decision"] == "deliver"
    assert hop["kind"] == "resident_status_flag"
    assert (hop["sender_system"], hop["recipient_system"]) == ("health_mgmt", "vrs")
    assert hop["policy_version"]
    assert hop["trace_id"] == TRACEPARENT[3:35]
    (out,) = hop["publishes"]
    assert (out["exchange"], out["routing_key"]) == ("sesshu.deliver", f"vrs.{CHIKUSEI}")
    assert out["published_at"] is not None
    assert [what for what, _ in events(delivered)] == ["received", "published"]

    approved = trace_json(services, str(flows["approved"].id))
    kinds = {m["kind"]: m for m in approved["messages"]}
    assert set(kinds) == {"provision_response", "approval_attestation"}
    reply = kinds["provision_response"]
    assert reply["held"]["state"] == "released"
    assert reply["held"]["decided_by"] == "aoki"
    assert reply["publishes"][0]["published_at"] is not None
    whats = [what for what, _ in events(approved)]
    assert whats.index("received") < whats.index("held") < whats.index("decided")
    assert ("decided", "approved by aoki") in events(approved)
    assert ("audit", "held.viewed by aoki") in events(approved)
    assert any(a["action"] == "held.approved" and a["actor"] == "aoki" for a in approved["audit"])
    (record,) = approved["provision_records"]
    assert (record["direction"], record["state"]) == ("provision", "released")

    rejected = trace_json(services, str(flows["rejected"].id))
    notices = [m for m in rejected["messages"] if m["kind"] == "rejection_notice"]
    assert len(notices) == 2  # to the sender and to the inquirer that waited
    assert all(m["causation_id"] == str(flows["rejected"].id) for m in notices)
    assert ("decided", "rejected by aoki") in events(rejected)
    assert rejected["provision_records"][0]["state"] == "rejected"
    assert "対象外の照会" not in json.dumps(rejected, ensure_ascii=False)  # never a comment

    refused = trace_json(services, str(flows["refused"].id))
    (hop,) = refused["messages"]
    assert (hop["decision"], hop["reason_code"]) == ("reject", "unroutable")
    assert "recipient" in hop["reason"]
    assert hop["publishes"][0]["exchange"] == "sesshu.dead"

    # By correlation id and by journal seq, the same journey; the text reads as a timeline.
    by_correlation = trace_json(services, str(flows["approved"].correlation_id))
    assert by_correlation["messages"] == approved["messages"]
    by_seq = trace_json(services, f"#{refused['messages'][0]['seq']}")
    assert by_seq["messages"] == refused["messages"]
    text = trace_text(services, str(flows["approved"].id))
    assert text.startswith(f"journey of {flows['approved'].id}: 2 message(s)")
    assert "approved by aoki" in text
    assert "sesshu.deliver" in text
    assert "情報提供等記録" in text
    for document in (delivered, approved, rejected, refused):
        assert "ciphertext" not in json.dumps(document)


def test_an_unknown_or_malformed_id_is_told_and_exits_nonzero(services: Services) -> None:
    unknown = "019abf3c-2a00-7000-8000-00000000dead"
    result = sesshu(services, "trace", unknown)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"error: no journal row for {unknown}" in result.stderr
    malformed = sesshu(services, "trace", "not-an-id")
    assert malformed.returncode == 2
    assert "a message or correlation id" in malformed.stderr
    assert "not-an-id" not in malformed.stderr
