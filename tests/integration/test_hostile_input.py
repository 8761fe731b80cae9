"""Hostile input against a live hub (issue 10): nothing on `sesshu.ingress` stops it or
costs a valid message, a reused id is told apart from a replay, and a key ring changed
while it runs takes effect."""

from __future__ import annotations

import itertools
import json
import re
import signal
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from contracts.broker import DEAD_QUEUE, INGRESS_QUEUE
from contracts.canonical import canonical_bytes, format_datetime
from contracts.codes import SystemId
from contracts.keys import generate_key
from contracts.signing import Signer
from tests.fuzz.hostile import leaf_paths, with_value_at
from tests.harness import CHIKUSEI, HubProcess, Services
from tests.probes import (
    consumers,
    delivered,
    drain_queue,
    fetchval,
    queue_depths,
    settled,
    topology_ready,
    unacked,
    wait_for,
)
from tests.traffic import publish, signed_traffic
from tests.unit.test_hostile_triage import POISON

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SENDER = (SystemId.HEALTH_MGMT, CHIKUSEI)


def resigned(services: Services, body: bytes, change: Any, signer: Signer | None = None) -> bytes:
    """`body` changed by `change(document)` and signed again, whatever the contract says."""
    signer = signer or services.signer(*SENDER)
    document = json.loads(body)
    document.pop("signature")
    change(document)
    document["key_id"] = signer.key_id
    document["signature"] = signer.sign_bytes(canonical_bytes(document))
    return canonical_bytes(document)


def poison(services: Services) -> list[bytes]:
    """Every poison of the unit table, the signed ones signed by a key this hub knows."""
    (_, template), *_ = signed_traffic(services, 1, [SENDER])
    signed = [
        resigned(services, template, lambda d: d.update({"\u0000": 1})),
        resigned(services, template, lambda d: d["payload"].update({"kind": "\u0000"})),
    ]
    return [make() for make in POISON.values()] + signed


async def dead_letters(services: Services) -> list[Any]:
    return await drain_queue(services.amqp_url, DEAD_QUEUE)


def delivered_ids(queues: dict[str, list[str]]) -> list[str]:
    return [message_id for ids in queues.values() for message_id in ids]


async def test_poison_before_and_among_valid_messages_costs_no_valid_one(
    services: Services,
) -> None:
    bad = poison(services)
    good = signed_traffic(services, 200, [SENDER])
    # The poison first, then the valid ones, in one prefetch window; then more of both.
    bodies = bad + [b for _, b in good[:100]] + bad[::-1] + [b for _, b in good[100:]]
    hub = HubProcess(services).start()  # the default: one worker, in this process
    try:
        await wait_for(lambda: topology_ready(services), 30, "the hub's topology")
        await publish(services.amqp_url, bodies)
        await wait_for(lambda: settled(services, len(bad) + 200), 60, "every message journaled")
        ids = delivered_ids(await delivered(services))
        assert Counter(ids) == Counter(message_id for message_id, _ in good)
        dead = await dead_letters(services)
        # Each poison journaled once, dead-lettered once (the second copy is a duplicate).
        assert len(dead) == len(bad)
        assert all(m.headers.get("x-sesshu-reason-code") for m in dead)
        assert not [m for m in dead if m.routing_key == "delivery_limit"]
        refused = await fetchval(services, "SELECT count(*) FROM journal WHERE decision = 'reject'")
        assert refused == len(bad)
        assert hub.process is not None
        assert hub.process.poll() is None, hub.log()
        assert "Traceback" not in hub.log()
    finally:
        assert hub.stop() == 0, hub.log()


async def test_a_message_the_journal_refuses_is_split_out_and_the_rest_commits(
    services: Services,
) -> None:
    good = signed_traffic(services, 150, [SENDER])
    # A stand-in for any value the database might refuse that triage let through: a
    # trigger that refuses one message's row, whatever the hub does to find it.
    culprit = json.loads(good[70][1])["id"]
    hub = HubProcess(services).start()
    try:
        await wait_for(lambda: topology_ready(services), 30, "the hub's topology")
        await _refuse_rows(services, f"NEW.message_id = '{culprit}'")
        await publish(services.amqp_url, [b for _, b in good])
        await wait_for(lambda: settled(services, 150), 60, "the batch journaled")
        ids = delivered_ids(await delivered(services))
        assert sorted(ids) == sorted(i for i, _ in good if i != culprit)
        dead = await dead_letters(services)
        assert [m.headers["x-sesshu-reason-code"] for m in dead] == ["internal_error"]
        assert dead[0].body == good[70][1]
        reason = await fetchval(
            services, "SELECT reason FROM journal WHERE reason_code = 'internal_error'"
        )
        assert reason == "the hub failed on this message (RaiseError); nothing was delivered"
        assert hub.process is not None
        assert hub.process.poll() is None
    finally:
        assert hub.stop() == 0, hub.log()


async def test_a_journal_that_refuses_every_row_pauses_the_hub_like_an_outage(
    services: Services,
) -> None:
    good = signed_traffic(services, 50, [SENDER])
    hub = HubProcess(services).start()
    try:
        await wait_for(lambda: topology_ready(services), 30, "the hub's topology")
        await _refuse_rows(services, "true")
        await publish(services.amqp_url, [b for _, b in good])

        async def held_back() -> bool:
            ready, waiting = unacked(services.vhost, INGRESS_QUEUE)
            return ready + waiting == 50

        await wait_for(held_back, 30, "the batch to wait in hub.ingress")
        assert await fetchval(services, "SELECT count(*) FROM journal") == 0
        assert (await queue_depths(services.amqp_url, [DEAD_QUEUE]))[DEAD_QUEUE] == 0
        await _refuse_rows(services, None)
        await wait_for(lambda: settled(services, 50), 60, "the batch after the fault is gone")
        assert sorted(delivered_ids(await delivered(services))) == sorted(i for i, _ in good)
        assert "JournalRefuses" in hub.log()
    finally:
        assert hub.stop() == 0, hub.log()


async def _refuse_rows(services: Services, condition: str | None) -> None:
    connection = await asyncpg.connect(services.database_url)
    try:
        await connection.execute("DROP TRIGGER IF EXISTS refuse ON journal")
        if condition is None:
            return
        await connection.execute(
            f"""CREATE OR REPLACE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN IF {condition} THEN RAISE EXCEPTION 'refused by the test'; END IF;
            RETURN NEW; END $$"""
        )
        await connection.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON journal FOR EACH ROW EXECUTE FUNCTION refuse()"
        )
    finally:
        await connection.close()


OTHER_CAUSE = "0190a1f2-0000-7000-8000-0000000000aa"


async def test_a_reused_id_is_refused_as_id_conflict_and_a_replay_stays_silent(
    services: Services,
) -> None:
    (first_id, first), (second_id, second) = signed_traffic(services, 2, [SENDER])
    # Other messages under journaled ids (the payload is sealed: another cause will do).
    reuse = resigned(services, first, lambda d: d.update({"causation_id": OTHER_CAUSE}))
    in_batch = resigned(services, second, lambda d: d.update({"causation_id": OTHER_CAUSE}))
    # The same message sent again, stamped and signed anew (an edge after a crash).
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=1))
    resend = resigned(services, first, lambda d: d.update({"sent_at": later}))
    hub = HubProcess(services).start()
    try:
        await wait_for(lambda: topology_ready(services), 30, "the hub's topology")
        await publish(services.amqp_url, [first])
        await wait_for(lambda: settled(services, 1), 30, "the first message")
        # A reuse of a journaled id, an exact replay, a resend, a reuse within one batch.
        await publish(services.amqp_url, [reuse, first, resend, second, in_batch])
        await wait_for(lambda: settled(services, 4), 30, "the reuses journaled")
        assert sorted(delivered_ids(await delivered(services))) == sorted([first_id, second_id])
        dead = await dead_letters(services)
        assert sorted(m.body for m in dead) == sorted([reuse, in_batch])
        assert {m.headers["x-sesshu-reason-code"] for m in dead} == {"id_conflict"}
        rows = await _journal_rows(services, "reason_code = 'id_conflict'")
        assert sorted(r["message_id"] for r in rows) == sorted([first_id, second_id])
        assert all(r["dedupe_key"].startswith("sha256:") for r in rows)
        # The replay again: still nothing new.
        await publish(services.amqp_url, [first, reuse])
        await wait_for(lambda: _ingress_empty(services), 30, "the replays consumed")
        assert await fetchval(services, "SELECT count(*) FROM journal") == 4
    finally:
        assert hub.stop() == 0, hub.log()


async def _journal_rows(services: Services, where: str) -> list[dict[str, Any]]:
    connection = await asyncpg.connect(services.database_url)
    try:
        rows = await connection.fetch(
            f"SELECT dedupe_key, message_id::text AS message_id FROM journal WHERE {where}"  # noqa: S608 - the test's own constant
        )
        return [dict(r) for r in rows]
    finally:
        await connection.close()


async def _ingress_empty(services: Services) -> bool:
    return unacked(services.vhost, INGRESS_QUEUE) == (0, 0)


# -- the key ring while the hub runs ---------------------------------------------------------


def _set_revoked(ring_dir: Path, key_id: str) -> None:
    path = ring_dir / f"{key_id}.json"
    entry = json.loads(path.read_text())
    entry["revoked"] = True
    path.write_text(json.dumps(entry, indent=2))


async def _decision_of(services: Services, message_id: str) -> tuple[str, str | None]:
    """The decision on the message with this id (found in the bytes: a refusal before the
    signature verified keeps no id of its own)."""
    query = "SELECT decision, reason_code FROM journal WHERE position($1::bytea in canonical) > 0"

    async def journaled() -> bool:
        return bool(await fetchval(services, f"SELECT count(*) FROM ({query}) AS q", needle))  # noqa: S608 - the test's own constant

    needle = f'"id":"{message_id}"'.encode()
    await wait_for(journaled, 30, "the message to be journaled")
    connection = await asyncpg.connect(services.database_url)
    try:
        row = await connection.fetchrow(query, needle)
        assert row is not None
        return row["decision"], row["reason_code"]
    finally:
        await connection.close()


async def _send_one(services: Services, signer: Signer) -> str:
    (message_id, body), *_ = signed_traffic(services, 1, [SENDER])
    body = resigned(services, body, lambda d: None, signer)
    await publish(services.amqp_url, [body])
    return message_id


async def _consumed_by(services: Services, workers: int) -> bool:
    return await consumers(services.amqp_url, INGRESS_QUEUE) >= workers


async def _keys_loaded(services: Services) -> list[dict[str, Any]]:
    connection = await asyncpg.connect(services.database_url)
    try:
        rows = await connection.fetch(
            "SELECT detail FROM audit_log WHERE action = 'keys.loaded' ORDER BY seq"
        )
        return [json.loads(r["detail"]) for r in rows]
    finally:
        await connection.close()


@pytest.mark.parametrize("how", ["poll", "sighup"])
async def test_a_key_ring_changed_while_the_hub_runs_takes_effect_and_is_audited(
    services: Services, how: str
) -> None:
    # Polling every second, or (for SIGHUP) so rarely that only the signal can explain it.
    interval = "1" if how == "poll" else "30"
    hub = HubProcess(
        services, workers=2, extra_env={"SESSHU_SIGNING__RING_RELOAD_SECONDS": interval}
    ).start()
    old = services.signer(*SENDER)
    new_key = generate_key(
        SENDER[0], SENDER[1], key_id="ims-new-t", valid_from=datetime.now(UTC) - timedelta(1)
    )
    new = Signer(new_key.entry.key_id, new_key.signing)
    try:
        await wait_for(lambda: topology_ready(services), 30, "the hub's topology")
        # Both workers running before the ring changes: one still starting would read the
        # changed ring at start (and have nothing to reload), or miss the signal.
        await wait_for(
            lambda: _consumed_by(services, 2), 30, "both workers consuming the ingress queue"
        )
        assert await _decision_of(services, await _send_one(services, old)) == ("deliver", None)
        assert await _decision_of(services, await _send_one(services, new)) == (
            "reject",
            "unknown_key",
        )

        _set_revoked(services.ring_dir, old.key_id)
        new_key.write(services.ring_dir)
        if how == "sighup":
            hub.signal(signal.SIGHUP)

        async def reloaded() -> bool:
            audited = await _keys_loaded(services)
            return bool(audited) and "ims-new-t" in audited[-1]["keys"]

        await wait_for(reloaded, 15, "the changed ring to be audited")

        async def both_reloaded() -> bool:
            # The ring with the new key, in each worker (one may also log a first,
            # half-copied state if the two file writes straddled its look).
            keys = len(services.ring())
            workers = re.findall(rf"key ring reloaded in worker (\d+): {keys} keys", hub.log())
            return len(set(workers)) == 2

        await wait_for(both_reloaded, 15, "both workers to reload")
        # Both workers use the new ring: several messages, so both have taken some.
        for _ in range(6):
            assert await _decision_of(services, await _send_one(services, old)) == (
                "reject",
                "revoked_key",
            )
            assert await _decision_of(services, await _send_one(services, new)) == (
                "deliver",
                None,
            )
        audited = await _keys_loaded(services)
        first, last = audited[0]["keys"], audited[-1]["keys"]
        assert "ims-new-t" not in first
        assert first[old.key_id] != last[old.key_id]  # its entry changed: revoked
        # Two workers reloaded, and each ring that took effect is written once (two file
        # writes may be seen as one change or as two, never twice the same).
        assert 2 <= len(audited) <= 3
        assert all(a != b for a, b in itertools.pairwise(audited))
    finally:
        assert hub.stop() == 0, hub.log()


async def test_a_my_number_in_any_field_reaches_no_column_header_or_log_line(
    services: Services,
) -> None:
    my_number = "123456789018"
    (_, template), *_ = signed_traffic(services, 1, [SENDER])
    document = json.loads(template)
    bodies = []
    for path in leaf_paths(document):
        changed = with_value_at(document, path, my_number)
        bodies.append(canonical_bytes(changed))  # its old signature: refused unsigned
        bodies.append(resigned(services, canonical_bytes(changed), lambda d: None))
    bodies.append(b'{"key_id":"' + my_number.encode() + b'"}')
    # DEBUG: not even the libraries' own debug lines may carry it.
    hub = HubProcess(services, extra_env={"SESSHU_LOG_LEVEL": "DEBUG"}).start()
    try:
        await wait_for(lambda: topology_ready(services), 30, "the hub's topology")
        await publish(services.amqp_url, bodies)
        await wait_for(lambda: _ingress_empty(services), 60, "every message consumed")
        await wait_for(lambda: settled(services, 1), 30, "the outbox published")
        connection = await asyncpg.connect(services.database_url)
        try:
            refused = await connection.fetch(
                "SELECT (to_jsonb(j) - 'canonical' - 'signature')::text AS row "
                "FROM journal AS j WHERE decision = 'reject'"
            )
            outbox = await connection.fetch("SELECT headers::text AS h FROM outbox")
        finally:
            await connection.close()
        dead = await dead_letters(services)
    finally:
        assert hub.stop() == 0, hub.log()
    assert len(refused) == len(dead) > len(bodies) // 2
    for row in refused:
        assert my_number not in row["row"]
    for row in outbox:
        assert my_number not in row["h"]
    for message in dead:
        assert my_number not in json.dumps(message.headers, default=str)
    assert my_number not in hub.log()
