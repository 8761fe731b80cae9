"""Retention against the real PostgreSQL: journal rows past their period lose their payload
bytes and keep their metadata and content hash, the seals still verify (`sesshu audit
verify`, the real one), held and unpublished messages keep theirs, a dry run changes
nothing and says what would go by kind and age, every prune is audited with its counts;
the hub's 情報提供等記録 go after seven years, and on the adapters' side health
management's vaccination records after five, the intermediate server's records after
seven (`sesshu stack prune`). Old rows are made by moving their times back in SQL."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from typer.testing import CliRunner

from contracts.envelope import Envelope
from hub.approvals import Role
from hub.cli import app
from hub.desk import Desk, Terminal
from hub.recording import record_batch
from hub.retention import Periods, Pruned
from hub.service import build_triage, open_desk
from hub.settings import Settings
from hub.store.postgres import PgStore
from tests.harness import CHIKUSEI, PASSWORD, YUKI, Services, adapter_database, adapters_base
from tests.traffic import provision, signed_traffic

pytestmark = pytest.mark.integration
TERMINAL = Terminal("192.0.2.10", "pytest/1.0")
TERMINALS = (f"{TERMINAL.client}/32",)  # the account's terminal (R26/R27)


def sesshu(services: Services, *args: str, **env: str) -> str:
    """Run `sesshu ARGS` against the test's database and keys; its stdout (exit 0)."""
    result = CliRunner().invoke(app, list(args), env=services.env(COLUMNS="200", **env))
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result.stdout


async def sql(services: Services, statement: str, *args: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(services.database_url)
    try:
        return list(await connection.fetch(statement, *args))
    finally:
        await connection.close()


async def journal(settings: Settings, bodies: Sequence[bytes]) -> None:
    """Journal what the hub's pipeline would, as one worker's batch."""
    triage = build_triage(settings)
    store = await PgStore.connect(settings.database.url.get_secret_value())
    try:
        await store.migrate()
        await store.record([triage(body, datetime.now(UTC)) for body in bodies])
    finally:
        await store.close()


async def age(services: Services, kind: str | None, days: float, *, limit: int = 1) -> list[int]:
    """Move the oldest `limit` rows of a kind that are not aged yet `days` into the past."""
    rows = await sql(
        services,
        "UPDATE journal SET received_at = now() - make_interval(secs => $2::float8)"
        " WHERE seq IN (SELECT seq FROM journal WHERE kind IS NOT DISTINCT FROM $1"
        "  AND received_at > now() - interval '1 hour' ORDER BY seq LIMIT $3)"
        " RETURNING seq",
        kind,
        days * 86400,
        limit,
    )
    return sorted(r["seq"] for r in rows)


async def on_desk(services: Services, act: Any) -> Any:
    desk = await open_desk(services.settings())
    try:
        return await act(desk)
    finally:
        await desk.store.close()


async def seal(desk: Desk) -> None:
    await desk.seal_journal(0)
    await desk.checkpoint()


async def columns(services: Services, seqs: Sequence[int]) -> dict[int, dict[str, Any]]:
    rows = await sql(
        services,
        "SELECT seq, dedupe_key, message_id, kind, decision, reason_code, policy_version,"
        " received_at, data_items, canonical, canonical_sha256, pruned_at"
        " FROM journal WHERE seq = ANY($1::bigint[])",
        list(seqs),
    )
    return {r["seq"]: dict(r) for r in rows}


async def published(services: Services, *, but: Sequence[int] = ()) -> None:
    """Every outbox row published, but those of these journal rows (the relay has them)."""
    await sql(services, "UPDATE outbox SET published_at = now()")
    await sql(
        services,
        "UPDATE outbox SET published_at = NULL WHERE journal_seq = ANY($1::bigint[])",
        list(but),
    )


async def scene(services: Services) -> dict[str, list[int]]:
    """A journal of every case, sealed, and one old row journaled after the seal: the
    seqs of each case."""
    settings = services.settings()
    traffic = [body for _, body in signed_traffic(services, 12)]
    reply = provision(services)  # flagged: held
    await journal(settings, [*traffic, b"not an envelope", reply.to_bytes()])
    seqs = {
        "old_doses": await age(services, "dose_record", 40),
        "unsent": await age(services, "dose_record", 40),  # its outbox row still unpublished
        "young_dose": await age(services, "dose_record", 20),
        "old_result": await age(services, "inquiry_result", 4),  # R42: 72 h
        "young_result": await age(services, "inquiry_result", 2),
        "refused": await age(services, None, 8),  # no kind: the refused bytes
        "held": await age(services, "provision_response", 40),
    }
    await published(services, but=seqs["unsent"])
    await on_desk(services, seal)
    await journal(settings, [body for _, body in signed_traffic(services, 1)])
    moved = await sql(
        services,
        "UPDATE journal SET received_at = now() - interval '45 days'"
        " WHERE seq = (SELECT max(seq) FROM journal) RETURNING seq",
    )
    seqs["late"] = [r["seq"] for r in moved]
    await published(services, but=seqs["unsent"])
    return seqs


def test_old_payloads_go_their_rows_and_hashes_stay_and_the_seals_still_verify(
    services: Services,
) -> None:
    seqs = asyncio.run(scene(services))
    # Sealed before the prune (but the late row): the seal covers the bytes' hash, which
    # the prune keeps.
    before = asyncio.run(columns(services, range(1, 100)))
    old_doses, old_result, refused, late = (
        seqs["old_doses"],
        seqs["old_result"],
        seqs["refused"],
        seqs["late"],
    )

    printed = sesshu(services, "prune")

    after = asyncio.run(columns(services, range(1, 100)))
    pruned = {seq for seq, row in after.items() if row["canonical"] is None}
    assert pruned == {*old_doses, *old_result, *refused, *late}
    for seq in pruned - set(late):
        was, now = before[seq], after[seq]
        assert now["canonical_sha256"] == hashlib.sha256(was["canonical"]).hexdigest()
        assert now["pruned_at"] is not None
        kept = {k: v for k, v in now.items() if k not in {"canonical", "canonical_sha256"}}
        assert kept | {"pruned_at": None} == {
            k: v for k, v in was.items() if k not in {"canonical", "canonical_sha256"}
        }
    for seq in (*seqs["young_dose"], *seqs["young_result"], *seqs["held"], *seqs["unsent"]):
        assert after[seq]["canonical"] == before[seq]["canonical"]
    assert after[old_doses[0]]["data_items"] == ["covid.dose"]
    assert "removed:" in printed
    assert "older than 30 d (transport)" in printed
    assert "older than 72 h (R42)" in printed
    assert "older than 7 d (refused)" in printed

    # The audit row of the prune, with its counts by kind and age.
    (audited,) = asyncio.run(
        sql(services, "SELECT actor, detail FROM audit_log WHERE action = 'retention.pruned'")
    )
    detail = json.loads(audited["detail"])
    assert audited["actor"].startswith("os:")
    assert detail["total"] == len(pruned)
    counts = {(c["what"], c["age"]): c["count"] for c in detail["counts"]}
    assert counts[("dose_record", "older than 30 d (transport)")] == 1
    assert counts[("inquiry_result", "older than 72 h (R42)")] == 1
    assert counts[("resident_status_flag", "older than 30 d (transport)")] == 1

    # The real verify, before and after the late row is sealed; then a second prune has
    # nothing to do and writes no audit row.
    assert sesshu(services, "audit", "verify").startswith("ok: ")
    asyncio.run(on_desk(services, seal))
    assert sesshu(services, "audit", "verify").startswith("ok: ")
    assert "nothing is past its retention period" in sesshu(services, "prune")
    assert (
        len(
            asyncio.run(
                sql(services, "SELECT 1 FROM audit_log WHERE action = $1", "retention.pruned")
            )
        )
        == 1
    )

    # The kept hash is what the seal covers: changing it is found.
    asyncio.run(
        sql(
            services,
            "UPDATE journal SET canonical_sha256 = repeat('0', 64) WHERE seq = $1",
            refused[0],
        )
    )
    result = CliRunner().invoke(app, ["audit", "verify"], env=services.env())
    assert result.exit_code == 1
    assert "journal rows" in result.stdout


def test_a_dry_run_changes_nothing_and_says_what_would_go_by_kind_and_age(
    services: Services,
) -> None:
    settings = services.settings()
    asyncio.run(journal(settings, [body for _, body in signed_traffic(services, 8)]))
    asyncio.run(sql(services, "UPDATE outbox SET published_at = now()"))
    asyncio.run(age(services, "dose_record", 41, limit=2))
    asyncio.run(age(services, "inquiry_result", 5))
    before = asyncio.run(sql(services, "SELECT seq, canonical FROM journal ORDER BY seq"))

    printed = sesshu(services, "prune", "--dry-run")

    assert asyncio.run(sql(services, "SELECT seq, canonical FROM journal ORDER BY seq")) == before
    assert not asyncio.run(
        sql(services, "SELECT 1 FROM audit_log WHERE action = 'retention.pruned'")
    )
    lines = printed.splitlines()
    assert lines[0] == "would remove (dry run, nothing changed):"
    (dose,) = [line for line in lines if "dose_record" in line]
    assert "older than 30 d (transport)" in dose
    assert "2 payloads" in dose
    assert dose.endswith("oldest 41 d")
    (result,) = [line for line in lines if "inquiry_result" in line]
    assert "older than 72 h (R42)" in result
    assert "1 payloads" in result
    # The same prune for real removes what the dry run said.
    assert "removed:" in sesshu(services, "prune")
    gone = asyncio.run(sql(services, "SELECT count(*) AS n FROM journal WHERE canonical IS NULL"))
    assert gone[0]["n"] == 3


def test_a_held_message_keeps_its_bytes_until_decided_and_then_shows_without_them(
    services: Services,
) -> None:
    settings = services.settings()
    reply = provision(services)
    asyncio.run(journal(settings, [reply.to_bytes()]))
    asyncio.run(age(services, "provision_response", 60))
    sesshu(services, "prune")
    kept = asyncio.run(
        sql(services, "SELECT canonical FROM journal WHERE kind = 'provision_response'")
    )
    assert kept[0]["canonical"] == reply.to_bytes()
    # Decided (rejected) long ago: now its bytes go, and the desk shows what is left.
    asyncio.run(sql(services, "UPDATE held_messages SET state = 'rejected', decided_at = now()"))
    assert "provision_response" in sesshu(services, "prune")

    async def shown(desk: Desk) -> Any:
        await desk.add_staff(
            "aoki",
            roles=[Role.AUDITOR],
            municipality=YUKI,
            department="audit",
            password=PASSWORD,
            terminals=TERMINALS,
        )
        _, who = await desk.login("aoki", PASSWORD, TERMINAL)
        return await desk.show(who, str(reply.id), TERMINAL)

    view = asyncio.run(on_desk(services, shown))
    assert view.envelope["payload"] == "pruned"
    assert view.envelope["kind"] == "provision_response"
    assert "retention" in (view.unreadable or "")


def test_provision_records_go_after_seven_years_and_younger_ones_stay(
    services: Services,
) -> None:
    settings = services.settings()
    old, young = provision(services), provision(services)
    asyncio.run(journal(settings, [old.to_bytes(), young.to_bytes()]))
    asyncio.run(
        sql(
            services,
            "UPDATE provision_records SET requested_at = now() - interval '7 years 3 days',"
            " retention_until = (now() - interval '3 days')::date WHERE message_id = $1",
            old.id,
        )
    )
    # Due tomorrow, not today: kept.
    asyncio.run(
        sql(
            services,
            "UPDATE provision_records SET retention_until = current_date WHERE message_id = $1",
            young.id,
        )
    )
    dry = sesshu(services, "prune", "--dry-run")
    assert "provision_record" in dry
    assert "past retention_until (7 y, R47)" in dry
    assert "1 records" in dry
    sesshu(services, "prune")
    left = asyncio.run(sql(services, "SELECT message_id FROM provision_records"))
    assert [r["message_id"] for r in left] == [young.id]
    (audited,) = asyncio.run(
        sql(services, "SELECT detail FROM audit_log WHERE action = 'retention.pruned'")
    )
    assert json.loads(audited["detail"])["counts"] == [
        {
            "what": "provision_record",
            "age": "past retention_until (7 y, R47)",
            "count": 1,
            "unit": "records",
        }
    ]


# --- the adapters' side --------------------------------------------------------------


async def _city_rows(db: Any) -> None:
    """Two residents (their sealed columns stand-ins: nothing here reads them), a dose six
    years old and one four years old, and the intermediate server's records of an inquiry
    of eight years ago and of one last year."""
    for person in ("p-1", "p-2"):
        await db.execute(
            "INSERT INTO ims.residents (person, basic_code, resident_code, my_number, name,"
            " birth_date, sex, address) VALUES ($1, $1, '\\x00', '\\x00', '\\x00', '\\x00',"
            " '\\x00', '\\x00')",
            person,
        )
    today = datetime.now(UTC).date()
    for person, years in (("p-1", 6), ("p-2", 4)):
        await db.execute(
            "INSERT INTO ims.doses (person, vaccine_type, dose_number, administered_on)"
            " VALUES ($1, 'covid-19', 1, $2)",
            person,
            today.replace(year=today.year - years, day=min(today.day, 28)),
        )
    now = datetime.now(UTC)
    for years in (8, 1):
        requested = now - timedelta(days=365 * years)
        await db.execute(
            "INSERT INTO intermediate.provision_records (record_id, inquiry_id, role, inquirer,"
            " provider, procedure, data_item, requested_at, outcome, retention_until)"
            " VALUES (gen_random_uuid(), gen_random_uuid(), 'inquirer', $1, $2, 'B2-115-2',"
            " 'vaccination.history', $3, 'provided', $4)",
            CHIKUSEI,
            YUKI,
            requested,
            (requested + timedelta(days=7 * 365)).date(),
        )


def test_health_management_and_the_intermediate_server_prune_what_is_past_its_years(
    services: Services, tmp_path: Path
) -> None:
    data_dir = tmp_path / "adapters"
    old_batch = data_dir / CHIKUSEI / "health_mgmt" / "records" / "done" / "batch.csv"
    young_batch = old_batch.with_name("young.csv")
    old_batch.parent.mkdir(parents=True)
    for path, years in ((old_batch, 6), (young_batch, 2)):
        path.write_text("basic_code,...\n")
        moment = (datetime.now(UTC) - timedelta(days=365 * years)).timestamp()
        os.utime(path, (moment, moment))

    async def run() -> tuple[str, str, list[asyncpg.Record], list[asyncpg.Record], Any]:
        async with adapter_database(CHIKUSEI) as (db, dsn):
            await _city_rows(db)
            env = {
                "SESSHU_ADAPTERS__DATABASE_URL": adapters_base(dsn, CHIKUSEI),
                "SESSHU_ADAPTERS__DATA_DIR": str(data_dir),
            }
            args = ("stack", "prune", "--municipality", CHIKUSEI)
            dry = await asyncio.to_thread(sesshu, services, *args, "--dry-run", **env)
            assert len(await db.fetch("SELECT 1 FROM ims.doses")) == 2
            assert not await db.fetch("SELECT 1 FROM retention_log")
            done = await asyncio.to_thread(sesshu, services, *args, **env)
            doses = await db.fetch("SELECT person FROM ims.doses")
            records = await db.fetch("SELECT requested_at FROM intermediate.provision_records")
            logged = await db.fetch("SELECT actor, counts FROM retention_log ORDER BY seq")
            return dry, done, doses, records, logged

    dry, done, doses, records, logged = asyncio.run(run())
    assert dry.splitlines()[:2] == [f"{CHIKUSEI}:", "  would remove (dry run, nothing changed):"]
    assert "health_mgmt.vaccination_record" in dry
    assert "older than 5 y (vaccinated)" in dry
    assert "intermediate.provision_record" in dry
    (files,) = [line for line in dry.splitlines() if "health_mgmt.records" in line]
    assert "older than 5 y" in files
    assert "1 files" in files
    assert files.endswith("oldest 6 y")
    assert "removed:" in done
    assert [r["person"] for r in doses] == ["p-2"]
    assert len(records) == 1
    assert records[0]["requested_at"] > datetime.now(UTC) - timedelta(days=2 * 365)
    assert not old_batch.exists()
    assert young_batch.exists()
    counts = [json.loads(r["counts"]) for r in logged]
    assert counts == [
        {"vaccination_record": 1, "provision_record": 1},
        {"health_mgmt.records files": 1},
    ]
    assert all(r["actor"].startswith("os:") for r in logged)


def test_prunes_go_a_batch_at_a_time_each_audited_and_two_at_once_do_it_once(
    services: Services,
) -> None:
    settings = services.settings()
    asyncio.run(journal(settings, [body for _, body in signed_traffic(services, 12)]))
    asyncio.run(published(services))
    asyncio.run(sql(services, "UPDATE journal SET received_at = now() - interval '40 days'"))
    periods = Periods.of(build_triage(settings).policy, settings)

    async def twice() -> list[list[Pruned]]:
        desks = [await open_desk(settings) for _ in range(2)]
        try:
            return list(await asyncio.gather(*(d.prune(periods, batch=2) for d in desks)))
        finally:
            for desk in desks:
                await desk.store.close()

    answers = asyncio.run(twice())
    removed = sum(line.count for answer in answers for line in answer)
    assert removed == 12
    rows = asyncio.run(
        sql(services, "SELECT detail FROM audit_log WHERE action = 'retention.pruned'")
    )
    totals = [json.loads(r["detail"])["total"] for r in rows]
    assert sum(totals) == 12
    assert max(totals) <= 2 * 3  # at most a batch of each of the three kinds


def test_a_message_resent_after_its_bytes_went_is_told_as_an_id_conflict(
    services: Services,
) -> None:
    settings = services.settings()
    ((_, body),) = signed_traffic(services, 1)
    asyncio.run(journal(settings, [body]))
    asyncio.run(published(services))
    asyncio.run(sql(services, "UPDATE journal SET received_at = now() - interval '40 days'"))
    sesshu(services, "prune")
    original = Envelope.model_validate_json(body)
    signer = services.signer(original.sender.system, str(original.municipality))
    resent = signer.sign(original.model_copy(update={"sent_at": datetime.now(UTC)}))

    async def record() -> list[str | None]:
        store = await PgStore.connect(settings.database.url.get_secret_value())
        try:
            entry = build_triage(settings)(resent.to_bytes(), datetime.now(UTC))
            assert entry.decision == "deliver"
            recorded = await record_batch(store, [entry], settings.hub)
        finally:
            await store.close()
        return [e.reason_code for e, _ in recorded]

    # The journal keeps no bytes to tell a resend from a reuse of the id: it says so.
    assert asyncio.run(record()) == ["id_conflict"]
