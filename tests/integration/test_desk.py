"""The approval desk against the real hub, RabbitMQ and PostgreSQL: held replies approved
exactly once with a signed attestation, rejected or expired with notices, the four-eyes
and role rules, reveal as an audited permission, sessions, and the tamper-evident trail."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from argon2 import PasswordHasher

from contracts.broker import adapter_queue, destinations
from contracts.codes import SystemId
from contracts.envelope import Envelope, Party, Recipient
from contracts.examples import example_payload
from contracts.payloads import ApprovalAttestation, RejectionNotice
from contracts.sealing import content_digest
from contracts.signing import Freshness, parse_and_verify
from hub import staff
from hub.approvals import Role
from hub.audit import row_hash
from hub.desk import Desk, DeskError, Forbidden, NotAuthenticated, NotFound, Refused, Terminal
from hub.entries import JournalEntry
from hub.service import build_triage, open_desk
from hub.store.desk import DeskTransaction
from hub.store.postgres import PgStore
from hub.store.trail import audit_row
from routing.decision import Context
from routing.policy import load_policy
from tests.harness import CHIKUSEI, PASSWORD, YUKI, HubProcess, Services
from tests.probes import drain_queue, fetchval, held, journaled, published, topology_ready, wait_for
from tests.traffic import provision, publish, signed_traffic, transfer_out

TERMINAL = Terminal("192.0.2.10", "pytest-browser/1.0")
TERMINALS = (f"{TERMINAL.client}/32",)  # the account's terminal (R26/R27)
SPAN = "00f067aa0ba902b7"
LONG_AGO = Freshness(max_age=timedelta(days=1), max_future=timedelta(minutes=5))


@pytest.fixture
async def desk(services: Services, policy_dir: Path) -> AsyncIterator[Desk]:
    opened = await open_desk(services.settings(SESSHU_ROUTING__POLICY_DIR=str(policy_dir)))
    people = [
        ("aoki", Role.APPROVER, YUKI, "health-promotion", False),
        ("baba", Role.APPROVER, YUKI, "health-promotion", False),
        ("chiba", Role.APPROVER, CHIKUSEI, "health-promotion", False),
        ("doi", Role.OPERATOR, YUKI, "health-promotion", False),
        ("endo", Role.AUDITOR, YUKI, "audit", False),
        ("fujita", Role.APPROVER, YUKI, "covid-vaccination", True),
    ]
    for user, role, municipality, department, reveal in people:
        await opened.add_staff(
            user,
            roles=[role],
            municipality=municipality,
            department=department,
            password=PASSWORD,
            terminals=TERMINALS,
            may_reveal=reveal,
        )
    yield opened
    await opened.store.close()


@pytest.fixture
async def hub(services: Services, policy_dir: Path) -> AsyncIterator[HubProcess]:
    process = HubProcess(
        services,
        extra_env={
            "SESSHU_ROUTING__POLICY_DIR": str(policy_dir),
            "SESSHU_DESK__EXPIRY_INTERVAL_SECONDS": "0.5",
        },
    ).start()
    try:
        await wait_for(lambda: topology_ready(services), 30, "the hub's topology")
    except AssertionError:
        process.kill()
        raise AssertionError(process.log()) from None
    yield process
    assert process.stop() == 0, process.log()


async def bodies(services: Services, system: SystemId, municipality: str) -> list[bytes]:
    return [
        m.body for m in await drain_queue(services.amqp_url, adapter_queue(system, municipality))
    ]


async def audit_actions(services: Services, subject: str) -> list[dict[str, Any]]:
    connection = await asyncpg.connect(services.database_url)
    try:
        rows = await connection.fetch(
            "SELECT actor, action, terminal, detail FROM audit_log WHERE subject = $1 ORDER BY seq",
            subject,
        )
    finally:
        await connection.close()
    return [
        {
            "actor": r["actor"],
            "action": r["action"],
            "terminal": json.loads(r["terminal"]) if r["terminal"] else None,
            "detail": json.loads(r["detail"]),
        }
        for r in rows
    ]


async def test_two_approvers_at_once_release_the_reply_once_with_a_signed_attestation(
    services: Services, hub: HubProcess, desk: Desk
) -> None:
    reply = provision(services)
    await held(services, reply)
    _, aoki = await desk.login("aoki", PASSWORD, TERMINAL)
    _, baba = await desk.login("baba", PASSWORD, TERMINAL)
    rows, total = await desk.held_list(aoki)
    assert total == 1
    assert rows[0].message_id == str(reply.id)
    assert rows[0].department == "health-promotion"
    view = await desk.show(aoki, str(reply.id), TERMINAL)
    # The digest of the provision its review copy shows, not of the bytes (ciphertext).
    expected = content_digest(example_payload("provision_response"))
    assert view.content_sha256 == expected

    outcomes = await asyncio.gather(
        desk.approve(aoki, str(reply.id), terminal=TERMINAL, content_sha256=expected),
        desk.approve(baba, str(reply.id), terminal=TERMINAL, comment="checked"),
        return_exceptions=True,
    )
    winners = [o for o in outcomes if not isinstance(o, BaseException)]
    losers = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(winners) == 1, outcomes
    assert isinstance(losers[0], Refused)
    assert losers[0].code == "not_held"
    approver = winners[0].decided_by

    await wait_for(lambda: published(services), 30, "the release to be published")
    seq = await fetchval(
        services, "SELECT journal_seq FROM held_messages WHERE message_id = $1", reply.id
    )
    assert await fetchval(services, "SELECT count(*) FROM outbox WHERE journal_seq = $1", seq) == 1
    # The reply goes on to the network; the attestation to the inquirer the review copy
    # names, which checks the provision it opens against it.
    assert await bodies(services, SystemId.NWS, YUKI) == [reply.to_bytes()]
    (attestation_bytes,) = await bodies(services, SystemId.INTERMEDIATE, CHIKUSEI)
    attestation, _ = parse_and_verify(
        attestation_bytes, services.ring(), now=datetime.now(UTC), freshness=LONG_AGO
    )
    assert attestation.sender.system is SystemId.HUB
    assert attestation.causation_id == reply.id
    assert isinstance(attestation.payload, ApprovalAttestation)
    assert attestation.payload.approver == approver
    assert attestation.payload.content_sha256 == expected

    record = await fetchval(
        services,
        "SELECT row(state, provided_at IS NOT NULL)::text FROM provision_records "
        "WHERE message_id = $1",
        reply.id,
    )
    assert record == "(released,t)"
    viewed, *acts = await audit_actions(services, str(reply.id))
    assert (viewed["actor"], viewed["action"]) == ("aoki", "held.viewed")
    # The approver who came second is refused, and that is audited too (R17).
    (lost,) = [a for a in acts if a["action"] == "held.approval_refused"]
    assert lost["detail"] == {"reason": "not_held"}
    assert lost["actor"] != approver
    acts = [a for a in acts if a is not lost]
    assert [a["action"] for a in acts] == ["held.approved", "held.released"]
    assert {a["actor"] for a in acts} == {approver}
    assert acts[0]["terminal"] == TERMINAL.as_dict()
    assert acts[0]["detail"]["content_sha256"] == expected
    count, finding = await desk.verify(services.ring())
    assert finding is None
    assert count >= 8


async def test_four_eyes_roles_and_comments_then_a_rejection_notifies_both_parties(
    services: Services, hub: HubProcess, desk: Desk
) -> None:
    reply = provision(services, operator="aoki")
    await held(services, reply)
    staff = {user: (await desk.login(user, PASSWORD, TERMINAL))[1] for user in ("aoki", "baba")}
    staff |= {u: (await desk.login(u, PASSWORD, TERMINAL))[1] for u in ("chiba", "doi", "fujita")}
    # Another municipality's or department's approver is told what an unknown id tells:
    # nothing of whether the message exists (issue 15).
    refusals: dict[str, tuple[type[DeskError], str]] = {
        "aoki": (Forbidden, "four_eyes"),
        "doi": (Forbidden, "not_an_approver"),
        "chiba": (NotFound, "not_found"),
        "fujita": (NotFound, "not_found"),
    }
    for user, (refusal, code) in refusals.items():
        with pytest.raises(refusal) as caught:
            await desk.approve(staff[user], str(reply.id), terminal=TERMINAL)
        assert caught.value.code == code, user
    with pytest.raises(Refused, match="comment_required"):
        await desk.reject(staff["baba"], str(reply.id), terminal=TERMINAL, comment="  ")
    with pytest.raises(Forbidden, match="wrong_municipality"):
        await desk.held_list(staff["chiba"], municipality=YUKI)

    decided = await desk.reject(
        staff["baba"], str(reply.id), terminal=TERMINAL, comment="history incomplete"
    )
    assert decided.state.value == "rejected"
    await wait_for(lambda: published(services), 30, "the notices to be published")
    for system in (SystemId.INTERMEDIATE, SystemId.NWS):
        (notice_bytes,) = await bodies(services, system, YUKI)
        notice, _ = parse_and_verify(
            notice_bytes, services.ring(), now=datetime.now(UTC), freshness=LONG_AGO
        )
        assert isinstance(notice.payload, RejectionNotice)
        assert notice.payload.rejected_message_id == reply.id
        assert notice.payload.reason_code == "rejected_by_approver"
    assert reply.to_bytes() not in await bodies(services, SystemId.NWS, YUKI)
    state = await fetchval(
        services, "SELECT state FROM provision_records WHERE message_id = $1", reply.id
    )
    assert state == "rejected"
    acts = await audit_actions(services, str(reply.id))
    # Every refused try is audited with its reason (R17), never with its comment.
    refused = [(a["actor"], a["detail"]) for a in acts if a["action"].endswith("_refused")]
    assert refused == [
        *((user, {"reason": code}) for user, (_, code) in refusals.items()),
        ("baba", {"reason": "comment_required"}),
    ]
    acts = [a for a in acts if not a["action"].endswith("_refused")]
    assert [(a["actor"], a["action"]) for a in acts] == [("baba", "held.rejected")]
    assert acts[0]["detail"]["comment"] == "history incomplete"


async def test_a_reply_nobody_approves_expires_and_both_parties_are_told(
    services: Services, policy_dir: Path, desk: Desk
) -> None:
    process = HubProcess(
        services,
        extra_env={
            "SESSHU_ROUTING__POLICY_DIR": str(policy_dir),
            "SESSHU_HUB__HOLD_EXPIRY_SECONDS": "1",
            "SESSHU_DESK__EXPIRY_INTERVAL_SECONDS": "0.3",
        },
    ).start()
    try:
        await wait_for(lambda: topology_ready(services), 30, "the hub's topology")
        reply = provision(services)
        await held(services, reply)

        async def expired() -> bool:
            state = await fetchval(
                services, "SELECT state FROM held_messages WHERE message_id = $1", reply.id
            )
            return bool(state == "expired")

        await wait_for(expired, 30, "the hub to expire the held reply")
        await wait_for(lambda: published(services), 30, "the notices to be published")
    finally:
        assert process.stop() == 0, process.log()
    for system in (SystemId.INTERMEDIATE, SystemId.NWS):
        (notice_bytes,) = await bodies(services, system, YUKI)
        notice = Envelope.model_validate_json(notice_bytes)
        assert isinstance(notice.payload, RejectionNotice)
        assert notice.payload.reason_code == "approval_expired"
    acts = await audit_actions(services, str(reply.id))
    assert [(a["actor"], a["action"]) for a in acts] == [("system:hub", "held.expired")]
    _, baba = await desk.login("baba", PASSWORD, TERMINAL)
    with pytest.raises(Refused, match="not_held"):
        await desk.approve(baba, str(reply.id), terminal=TERMINAL)


async def test_the_desk_journals_its_attestations_and_notices_as_the_pipeline_would(
    services: Services, policy_dir: Path, desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The hub's own messages are envelopes like any other: the journal entry the desk
    # writes for one must be the entry the pipeline makes when it accepts that envelope
    # (trace id, data items, originator and direction included).
    triage = build_triage(services.settings(SESSHU_ROUTING__POLICY_DIR=str(policy_dir)))
    written: list[JournalEntry] = []
    record = DeskTransaction.record

    async def recording(tx: DeskTransaction, entries: Sequence[JournalEntry]) -> None:
        written.extend(entries)
        await record(tx, entries)

    monkeypatch.setattr(DeskTransaction, "record", recording)
    signer = services.signer(SystemId.INTERMEDIATE, YUKI)
    replies = {
        trace: signer.sign(
            provision(services).model_copy(update={"traceparent": f"00-{trace}-{SPAN}-01"})
        )
        for trace in (uuid.uuid4().hex for _ in range(3))
    }
    approved, rejected, expired = replies.values()
    for reply, hold_seconds in ((approved, 3600.0), (rejected, 3600.0), (expired, 0.2)):
        store = await PgStore.connect(services.database_url, hold_seconds=hold_seconds)
        try:
            entry = triage(reply.to_bytes(), datetime.now(UTC), reply.kind)
            assert entry.decision == "hold"
            await store.record([entry])
        finally:
            await store.close()
    _, baba = await desk.login("baba", PASSWORD, TERMINAL)
    await desk.approve(baba, str(approved.id), terminal=TERMINAL)
    await desk.reject(baba, str(rejected.id), terminal=TERMINAL, comment="history incomplete")

    async def expired_now() -> bool:
        return await desk.expire_due() == 1

    await wait_for(expired_now, 10, "the short hold to expire")

    # One attestation, and a notice to each party of the rejected and the expired reply.
    assert sorted(e.kind or "" for e in written) == [
        "approval_attestation",
        *["rejection_notice"] * 4,
    ]
    trace_of = {str(reply.id): trace for trace, reply in replies.items()}
    for entry in written:
        accepted = triage(entry.canonical, datetime.now(UTC), entry.kind)
        assert accepted.decision == "deliver", accepted.reason
        assert entry == accepted
        assert entry.trace_id == trace_of[entry.causation_id or ""]
        assert entry.data_items == "vaccination.history"
        assert (entry.originated_by, entry.direction) == (None, None)
    for trace, reply in replies.items():
        journaled_traces = await fetchval(
            services,
            "SELECT array_agg(DISTINCT coalesce(trace_id, '-')) FROM journal"
            " WHERE correlation_id = $1",
            reply.correlation_id,
        )
        assert journaled_traces == [trace]


async def test_the_approver_sees_my_number_masked_and_revealing_it_is_audited(
    services: Services, hub: HubProcess, desk: Desk
) -> None:
    reply = transfer_out(services)
    await held(services, reply)
    _, fujita = await desk.login("fujita", PASSWORD, TERMINAL)
    _, aoki = await desk.login("aoki", PASSWORD, TERMINAL)
    full = example_payload("transfer_out_provision").model_dump(mode="json")
    numbers = [v for v in _strings(full) if v.isdigit() and len(v) == 12]
    assert numbers, "the example transfer-out provision carries a My Number"

    view = await desk.show(fujita, str(reply.id), TERMINAL)
    assert view.row.department == "covid-vaccination"
    assert view.masked_paths
    assert view.review is not None
    # The approver reads the review copy, My Number masked; the envelope shows no ciphertext.
    shown = json.dumps([view.envelope, view.review.document, view.review.subject])
    assert not any(number in shown for number in numbers)
    assert "********" + numbers[0][-4:] in shown
    assert "ciphertext" not in json.dumps(view.envelope)
    assert ("生年月日 · Birth date", "1950年") in view.review.subject

    with pytest.raises(Forbidden, match="may_not_reveal"):
        await desk.reveal(aoki, str(reply.id), TERMINAL)
    revealed = await desk.reveal(fujita, str(reply.id), TERMINAL)
    assert sorted(revealed.values()) == sorted(numbers)
    acts = await audit_actions(services, str(reply.id))
    # Every view is audited (R17), the refused reveal with its reason, and the reveal with
    # the fields it showed.
    assert [(a["actor"], a["action"]) for a in acts] == [
        ("fujita", "held.viewed"),
        ("aoki", "held.reveal_refused"),
        ("fujita", "held.revealed"),
    ]
    assert acts[0]["detail"] == {"content": True}
    assert acts[1]["detail"] == {"reason": "may_not_reveal"}
    assert acts[2]["detail"]["fields"] == sorted(revealed)
    assert acts[2]["terminal"] == TERMINAL.as_dict()
    assert not any(number in json.dumps(acts) for number in numbers)


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


async def test_sessions_tokens_and_disabled_accounts_are_enforced_and_audited(
    services: Services, desk: Desk
) -> None:
    with pytest.raises(NotAuthenticated, match="login_failed"):
        await desk.login("aoki", "wrong password!", TERMINAL)
    with pytest.raises(NotAuthenticated, match="login_failed"):
        await desk.login("nobody", PASSWORD, TERMINAL)
    secret, _ = await desk.login("aoki", PASSWORD, TERMINAL)
    assert (await desk.authenticate(secret, TERMINAL)).user_id == "aoki"
    await desk.logout(secret, TERMINAL)
    with pytest.raises(NotAuthenticated):
        await desk.authenticate(secret, TERMINAL)

    await desk.add_staff(
        "vendor-batch",
        roles=[Role.OPERATOR],
        municipality=YUKI,
        department="it",
        password=None,
        terminals=TERMINALS,
    )
    token = await desk.issue_token("vendor-batch", label="nightly report", days=30)
    assert (await desk.authenticate(token, TERMINAL)).user_id == "vendor-batch"

    again, _ = await desk.login("aoki", PASSWORD, TERMINAL)
    assert await desk.disable_staff("aoki") == 1
    await desk.disable_staff("vendor-batch")
    for dead in (again, token):
        with pytest.raises(NotAuthenticated):
            await desk.authenticate(dead, TERMINAL)
    with pytest.raises(NotAuthenticated, match="login_failed"):
        await desk.login("aoki", PASSWORD, TERMINAL)

    acts = await audit_actions(services, "aoki")
    assert [(a["action"], a["detail"].get("reason")) for a in acts] == [
        ("staff.added", None),
        ("login.failed", "bad_password"),
        ("login", None),
        ("logout", None),
        ("login", None),
        ("staff.disabled", None),
        ("login.failed", "account_disabled"),
    ]
    assert all(
        a["terminal"] == TERMINAL.as_dict() for a in acts if not a["action"].startswith("staff.")
    )
    unknown = await fetchval(
        services,
        "SELECT count(*) FROM audit_log WHERE actor = 'unknown' AND action = 'login.failed'",
    )
    assert unknown == 1
    assert (await desk.verify(services.ring()))[1] is None


async def _tamper(services: Services, *statements: str) -> None:
    # What a DBA could do: switch the append-only trigger off for the session.
    connection = await asyncpg.connect(services.database_url)
    try:
        await connection.execute("SET session_replication_role = replica")
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


INSERTED = (
    "INSERT INTO audit_log SELECT 5, at, 'mallory', 'held.approved', subject, municipality,"
    " terminal, detail, prev_hash, '{hash}' FROM audit_log WHERE seq = 5"
)


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        ("edit", "row 5 changed"),
        ("delete", "row 5 removed"),
        ("insert", "row 5 inserted"),
        ("rewrite", "row 8 changed: the chain differs from its signed checkpoint"),
        ("truncate", "row 1 removed"),
    ],
)
async def test_audit_verify_names_the_row_that_was_changed_removed_or_inserted(
    services: Services, desk: Desk, tamper: str, expected: str
) -> None:
    # The desk fixture wrote six staff.added rows; two log-ins make eight.
    for user in ("aoki", "baba"):
        await desk.login(user, PASSWORD, TERMINAL)
    assert await desk.checkpoint() is not None
    assert await desk.verify(services.ring()) == (8, None)
    connection = await asyncpg.connect(services.database_url)
    try:
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await connection.execute("DELETE FROM audit_log WHERE seq = 5")
    finally:
        await connection.close()

    if tamper == "edit":
        await _tamper(
            services, 'UPDATE audit_log SET detail = \'{"roles": ["admin"]}\' WHERE seq = 5'
        )
    elif tamper == "delete":
        await _tamper(services, "DELETE FROM audit_log WHERE seq = 5")
    elif tamper == "insert":
        # A forged row slipped in as row 5, the rest renumbered, its own hash made right.
        forged = await _forged_row(services)
        await _tamper(
            services,
            "UPDATE audit_log SET seq = seq + 1000 WHERE seq >= 5",
            "UPDATE audit_log SET seq = seq - 999 WHERE seq >= 1000",
            INSERTED.replace("seq = 5", "seq = 6").replace("'{hash}'", f"'{forged}'"),
        )
    elif tamper == "rewrite":
        # Change row 5 and recompute every hash after it: only the checkpoint catches it.
        await _rewrite_from(services, 5)
    else:
        await _tamper(services, "TRUNCATE audit_log")
    _, finding = await desk.verify(services.ring())
    assert finding is not None
    assert str(finding).startswith(expected), str(finding)


async def _forged_row(services: Services) -> str:
    connection = await asyncpg.connect(services.database_url)
    try:
        record = await connection.fetchrow("SELECT * FROM audit_log WHERE seq = 5")
        assert record is not None
        row = audit_row(dict(record))
    finally:
        await connection.close()
    content = row.content() | {"actor": "mallory", "action": "held.approved"}
    return row_hash(row.prev_hash, content)


async def _rewrite_from(services: Services, seq: int) -> None:
    connection = await asyncpg.connect(services.database_url)
    try:
        await connection.execute("SET session_replication_role = replica")
        rows = [
            audit_row(dict(r))
            for r in await connection.fetch("SELECT * FROM audit_log ORDER BY seq")
        ]
        prev = rows[seq - 2].hash
        for row in rows[seq - 1 :]:
            actor = "mallory" if row.seq == seq else row.actor
            content = row.content() | {"actor": actor}
            digest = row_hash(prev, content)
            await connection.execute(
                "UPDATE audit_log SET actor = $2, prev_hash = $3, hash = $4 WHERE seq = $1",
                row.seq,
                actor,
                prev,
                digest,
            )
            prev = digest
    finally:
        await connection.close()


async def test_inquiries_and_provisions_get_a_provision_record_linked_by_correlation(
    services: Services, hub: HubProcess, desk: Desk
) -> None:
    signer = services.signer(SystemId.INTERMEDIATE, YUKI)
    inquiry = signer.sign(
        services.envelope(
            example_payload("inquiry_request"),
            municipality=YUKI,
            sender=Party(system=SystemId.INTERMEDIATE, instance="is-1"),
            recipient=Recipient(system=SystemId.NWS, municipality=YUKI),
            procedure="B2-115-2",
            data_items=("vaccination.history",),
            key_id=signer.key_id,
        )
    )
    await publish(services.amqp_url, [inquiry.to_bytes()], routing_key=inquiry.kind)
    reply = signer.sign(
        provision(services).model_copy(
            update={"correlation_id": inquiry.id, "causation_id": inquiry.id}
        )
    )
    await held(services, reply)
    _, aoki = await desk.login("aoki", PASSWORD, TERMINAL)
    await desk.approve(aoki, str(reply.id), terminal=TERMINAL)
    _, endo = await desk.login("endo", PASSWORD, TERMINAL)  # Yuki's auditor
    rows = {r.direction: r for r in await desk.provision_records(endo, limit=10)}
    assert set(rows) == {"inquiry", "provision"}
    asked, answered = rows["inquiry"], rows["provision"]
    assert asked.message_id == str(inquiry.id)
    assert (asked.inquirer_system, asked.provider_system) == ("intermediate", "nws")
    assert (answered.inquirer_system, answered.provider_system) == ("nws", "intermediate")
    assert answered.correlation_id == str(inquiry.id)
    assert answered.requested_at == asked.requested_at
    assert answered.state == "released"
    assert answered.provided_at is not None
    assert answered.provided_at >= answered.requested_at
    assert answered.data_items == ("vaccination.history",)
    assert not answered.nondisclosure
    assert (answered.retention_until - answered.requested_at.date()).days >= 7 * 365


async def test_the_hub_audits_the_policy_and_key_ring_it_starts_with_once_per_change(
    services: Services, policy_dir: Path, desk: Desk
) -> None:
    async def recorded(action: str) -> int:
        return int(
            await fetchval(services, "SELECT count(*) FROM audit_log WHERE action = $1", action)
        )

    env = {"SESSHU_ROUTING__POLICY_DIR": str(policy_dir)}
    traffic = iter(signed_traffic(services, 3))

    async def run_hub() -> None:
        # The first tick of the hub's jobs (which audits what it started with) always
        # completes before a drained hub exits; one journaled message shows it is up.
        process = HubProcess(services, extra_env=env).start()
        try:
            await wait_for(lambda: topology_ready(services), 30, "the hub's topology")
            before = await journaled(services)
            await publish(services.amqp_url, [next(traffic)[1]])
            await wait_for(lambda: _more(journaled(services), before), 30, "a journaled message")
        finally:
            assert process.stop() == 0, process.log()

    for _ in range(2):  # the same policy and ring twice: recorded once
        await run_hub()
    assert (await recorded("policy.loaded"), await recorded("keys.loaded")) == (1, 1)
    with (policy_dir / "auto_response_disabled.csv").open("a") as flags:
        flags.write("vrs,*,S19-16,covid.dose,covid-vaccination\n")
    await run_hub()
    assert (await recorded("policy.loaded"), await recorded("keys.loaded")) == (2, 1)
    assert (await desk.verify(services.ring()))[1] is None


async def _more(count: Awaitable[int], than: int) -> bool:
    return await count > than


async def test_journal_seals_make_every_routing_decision_tamper_evident(
    services: Services, hub: HubProcess, desk: Desk
) -> None:
    traffic = signed_traffic(services, 40)
    await publish(services.amqp_url, [body for _, body in traffic])
    await wait_for(lambda: _more(journaled(services), 39), 60, "40 journaled messages")
    sealed = await desk.seal_journal(0)
    assert sealed is not None
    assert sealed.detail["rows"] == 40
    assert await desk.seal_journal(0) is None  # nothing new
    assert (await desk.verify(services.ring()))[1] is None
    # Someone rewrites one routing decision's policy version in the journal.
    await _tamper(
        services,
        "UPDATE journal SET policy_version = 'forged' WHERE seq = (SELECT max(seq) FROM journal)",
    )
    _, finding = await desk.verify(services.ring())
    assert finding is not None
    assert finding.seq == sealed.seq
    assert finding.problem == "journal"
    assert f"journal rows 1-{sealed.detail['upto_seq']} changed" in str(finding)


async def test_held_rows_from_before_departments_get_theirs_from_the_policy(
    services: Services, hub: HubProcess, desk: Desk, policy_dir: Path
) -> None:
    reply = provision(services)
    await held(services, reply)
    connection = await asyncpg.connect(services.database_url)
    try:  # what a row written under migration 0002 looks like
        await connection.execute("UPDATE held_messages SET department = ''")
    finally:
        await connection.close()
    context = Context(destinations=destinations((CHIKUSEI, YUKI)))
    assert await desk.backfill_departments(load_policy(policy_dir), context) == 1
    department = await fetchval(
        services, "SELECT department FROM held_messages WHERE message_id = $1", reply.id
    )
    assert department == "health-promotion"
    assert await desk.backfill_departments(load_policy(policy_dir), context) == 0


async def test_a_weaker_password_hash_is_renewed_at_log_in(services: Services, desk: Desk) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024).hash(PASSWORD)
    connection = await asyncpg.connect(services.database_url)
    try:
        await connection.execute("UPDATE staff SET password_hash = $1 WHERE user_id = 'aoki'", weak)
        await desk.login("aoki", PASSWORD, TERMINAL)
        renewed = await connection.fetchval(
            "SELECT password_hash FROM staff WHERE user_id = 'aoki'"
        )
    finally:
        await connection.close()
    assert renewed != weak
    assert not staff.needs_rehash(renewed)
    assert (await desk.login("aoki", PASSWORD, TERMINAL))[1].user_id == "aoki"


async def test_workers_starting_together_record_a_policy_change_once(
    services: Services, desk: Desk
) -> None:
    other = await open_desk(services.settings())
    try:
        detail = {"version": "0123456789abcdef"}
        recorded = await asyncio.gather(
            *(d.record_change("policy.loaded", detail) for d in (desk, other, desk, other))
        )
    finally:
        await other.store.close()
    assert sorted(recorded) == [False, False, False, True]
    rows = await fetchval(services, "SELECT count(*) FROM audit_log WHERE action = 'policy.loaded'")
    assert rows == 1
