"""The audit chain as pure functions: every kind of tampering is named at the right row,
checkpoints are checked, and comments or passwords follow their rules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from contracts.codes import SystemId
from contracts.keys import KeyRing, generate_key
from contracts.signing import Signer
from hub import staff
from hub.audit import GENESIS, AuditRow, Checkpoint, row_hash, sign_checkpoint, verify
from hub.desk import DeskError, clean_comment

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
HUB_KEY = generate_key(SystemId.HUB, None, key_id="hub-shared-t", valid_from=T0)
OTHER_KEY = generate_key(SystemId.VRS, "082279", key_id="vrs-082279-t", valid_from=T0)
RING = KeyRing([HUB_KEY.entry, OTHER_KEY.entry])
SIGNER = Signer("hub-shared-t", HUB_KEY.signing)


def chain(n: int) -> list[AuditRow]:
    rows, prev = [], GENESIS
    for seq in range(1, n + 1):
        row = AuditRow(
            seq=seq,
            at=T0 + timedelta(seconds=seq),
            actor=f"user-{seq % 3}",
            action="login",
            subject=f"user-{seq % 3}",
            municipality="082279",
            terminal={"client": "192.0.2.1", "agent": "test"},
            detail={"n": seq},
            prev_hash=prev,
            hash="",
        )
        row = replace(row, hash=row_hash(prev, row.content()))
        rows.append(row)
        prev = row.hash
    return rows


def rehash(row: AuditRow) -> AuditRow:
    return replace(row, hash=row_hash(row.prev_hash, row.content()))


def test_an_intact_chain_verifies_with_its_checkpoint() -> None:
    rows = chain(10)
    checkpoint = sign_checkpoint(SIGNER, 10, rows[-1].hash, T0)
    assert verify(rows, [checkpoint], RING) == (10, None)
    assert verify([], [], RING) == (0, None)


def test_the_hash_covers_every_field_but_the_seq() -> None:
    row = chain(1)[0]
    changes: list[tuple[str, object]] = [
        ("actor", "mallory"),
        ("action", "logout"),
        ("subject", None),
        ("municipality", "082074"),
        ("terminal", None),
        ("detail", {"n": 2}),
        ("at", T0),
        ("prev_hash", "1" * 64),
    ]
    for field, value in changes:
        changed = replace(row, **{field: value})  # type: ignore[arg-type]
        assert row_hash(changed.prev_hash, changed.content()) != row.hash, field
    assert rehash(replace(row, seq=99)).hash == row.hash


def _edited(rows: list[AuditRow]) -> list[AuditRow]:
    rows[4] = replace(rows[4], actor="mallory")
    return rows


def _deleted(rows: list[AuditRow]) -> list[AuditRow]:
    del rows[4]
    return rows


def _deleted_and_renumbered(rows: list[AuditRow]) -> list[AuditRow]:
    del rows[4]
    return [replace(r, seq=i + 1) for i, r in enumerate(rows)]


def _inserted(rows: list[AuditRow]) -> list[AuditRow]:
    forged = rehash(replace(rows[4], actor="mallory"))  # follows row 4, its own hash right
    moved = [replace(r, seq=r.seq + 1) for r in rows[4:]]
    return [*rows[:4], forged, *moved]


def _first_removed(rows: list[AuditRow]) -> list[AuditRow]:
    return rows[1:]


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (_edited, "row 5 changed: its hash does not match its content"),
        (_deleted, "row 5 removed: row 6 follows a gap"),
        (_deleted_and_renumbered, "row 5 removed: it does not follow row 4"),
        (_inserted, "row 5 inserted: row 6 follows row 4 directly"),
        (_first_removed, "row 1 removed: row 2 follows a gap"),
    ],
)
def test_each_kind_of_tampering_is_named_at_its_row(
    tamper: Callable[[list[AuditRow]], list[AuditRow]], expected: str
) -> None:
    rows = tamper(chain(10))
    _, finding = verify(rows, [], RING)
    assert finding is not None
    assert str(finding).startswith(expected), str(finding)


def test_a_rewritten_chain_fails_against_its_checkpoint() -> None:
    rows = chain(10)
    checkpoint = sign_checkpoint(SIGNER, 8, rows[7].hash, T0)
    forged, prev = [], GENESIS
    for row in rows:  # change row 3 and recompute every hash after it
        actor = "mallory" if row.seq == 3 else row.actor
        rewritten = rehash(replace(row, actor=actor, prev_hash=prev))
        forged.append(rewritten)
        prev = rewritten.hash
    assert verify(forged, [], RING) == (10, None)  # the chain alone cannot tell
    _, finding = verify(forged, [checkpoint], RING)
    assert str(finding) == "row 8 changed: the chain differs from its signed checkpoint"


def test_checkpoints_must_be_signed_by_a_hub_key_and_name_rows_that_exist() -> None:
    rows = chain(5)
    good = sign_checkpoint(SIGNER, 5, rows[-1].hash, T0)
    # One character in the middle changed: replacing the tail could leave the bytes
    # unchanged (base64's last character carries padding bits), and the test flaked.
    middle = good.signature[10]
    forged = good.signature[:10] + ("B" if middle == "A" else "A") + good.signature[11:]
    bad_signature = replace(good, signature=forged)
    not_hub = sign_checkpoint(Signer("vrs-082279-t", OTHER_KEY.signing), 5, rows[-1].hash, T0)
    for checkpoint, expected in [
        (bad_signature, "checkpoint signature does not verify"),
        (not_hub, "not a hub key"),
        (replace(good, signed_at=T0 + timedelta(1)), "checkpoint signature does not verify"),
    ]:
        _, finding = verify(rows, [checkpoint], RING)
        assert finding is not None
        assert finding.problem == "checkpoint"
        assert expected in str(finding)
    _, finding = verify(rows[:3], [good], RING)
    assert str(finding) == "row 4 removed: checkpoint 5 signs rows no longer in the log"
    assert isinstance(good, Checkpoint)


@pytest.mark.parametrize(
    ("comment", "code"),
    [
        ("x" * 501, "at most 500"),
        ("bell\x07", "control characters"),
        ("番号 123456789018 を確認", "My Number"),
        ("１２３ plus 123456789018", "My Number"),
    ],
)
def test_a_comment_that_could_carry_personal_data_is_refused(comment: str, code: str) -> None:
    with pytest.raises(DeskError, match=code) as caught:
        clean_comment(comment)
    assert "123456789018" not in str(caught.value)


def test_ordinary_comments_pass_stripped() -> None:
    assert clean_comment("  内容確認済み\n2 件目  ") == "内容確認済み\n2 件目"
    assert clean_comment("   ") is None
    assert clean_comment(None) is None
    assert clean_comment("lot 123456789012 is not a My Number") is not None


def test_passwords_and_secrets() -> None:
    with pytest.raises(ValueError, match="at least 12"):
        staff.hash_password("short")
    stored = staff.hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert staff.check_password(stored, "correct horse battery")
    assert not staff.check_password(stored, "correct horse batterz")
    assert not staff.check_password(None, "correct horse battery")
    assert not staff.check_password("not a hash", "correct horse battery")
    assert not staff.needs_rehash(stored)
    secret = staff.new_secret()
    assert len(secret) >= 43
    assert staff.secret_digest(secret) != secret
    assert len(staff.secret_digest(secret)) == 64
