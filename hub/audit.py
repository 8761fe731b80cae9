"""The audit trail's hash chain and signed checkpoints, as plain functions (no I/O).

Each row's hash is SHA-256 over the previous row's hash and the canonical JSON (JCS, as
for envelopes) of the row's content; the first row follows 64 zeros. The sequence number
is not hashed: it is the table's order, checked for gaps separately. `verify` walks the
rows in order and names the first that was changed (its hash is not its content's), removed
(the next row follows a row that is not there) or inserted (a row the chain skips), then
checks every checkpoint's signature and that the chain passes through the checkpointed
head, which catches a chain rewritten from scratch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature

from contracts._b64 import b64decode
from contracts.canonical import canonical_bytes, format_datetime
from contracts.codes import SystemId
from contracts.keys import KeyRing
from contracts.signing import Signer

__all__ = [
    "GENESIS",
    "AuditRow",
    "Checkpoint",
    "Finding",
    "checkpoint_input",
    "row_hash",
    "sign_checkpoint",
    "verify",
]

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One row of `audit_log`."""

    seq: int
    at: datetime
    actor: str
    action: str
    subject: str | None
    municipality: str | None
    terminal: Mapping[str, Any] | None
    detail: Mapping[str, Any]
    prev_hash: str
    hash: str

    def content(self) -> dict[str, Any]:
        """What the hash covers besides the previous hash."""
        return {
            "at": format_datetime(self.at),
            "actor": self.actor,
            "action": self.action,
            "subject": self.subject,
            "municipality": self.municipality,
            "terminal": dict(self.terminal) if self.terminal is not None else None,
            "detail": dict(self.detail),
        }


def row_hash(prev_hash: str, content: Mapping[str, Any]) -> str:
    """The hash of a row whose content is `content` and whose predecessor hashed `prev_hash`."""
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical_bytes(dict(content))).hexdigest()


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The hub's signature over the head of the chain at `seq`."""

    seq: int
    hash: str
    signed_at: datetime
    key_id: str
    signature: str


def checkpoint_input(seq: int, head: str, signed_at: datetime) -> bytes:
    """The bytes a checkpoint signature covers."""
    return f"sesshu-audit-checkpoint\n{seq}\n{head}\n{format_datetime(signed_at)}".encode()


def sign_checkpoint(signer: Signer, seq: int, head: str, signed_at: datetime) -> Checkpoint:
    """Sign the head of the chain."""
    signature = signer.sign_bytes(checkpoint_input(seq, head, signed_at))
    return Checkpoint(seq, head, signed_at, signer.key_id, signature)


@dataclass(frozen=True, slots=True)
class Finding:
    """The first thing wrong with the trail: the row (or checkpoint) and what happened."""

    seq: int
    problem: str  # changed | removed | inserted | checkpoint | journal
    detail: str

    def __str__(self) -> str:
        return f"row {self.seq} {self.problem}: {self.detail}"


def verify(
    rows: Iterable[AuditRow], checkpoints: Iterable[Checkpoint], ring: KeyRing
) -> tuple[int, Finding | None]:
    """(rows checked, the first finding or None if the trail is intact)."""
    signed = {c.seq: c for c in checkpoints}
    for checkpoint in signed.values():
        bad = _bad_signature(checkpoint, ring)
        if bad:
            return 0, Finding(checkpoint.seq, "checkpoint", bad)
    # The last row and the hash and seq before it: a row is an insertion when its
    # successor follows its predecessor.
    last: AuditRow | None = None
    before_last = (GENESIS, 0)
    count = 0
    for row in rows:
        count += 1
        finding = _check(row, last, before_last, signed.get(row.seq))
        if finding:
            return count, finding
        before_last = (last.hash, last.seq) if last else (GENESIS, 0)
        last = row
    end = last.seq if last else 0
    beyond = [seq for seq in signed if seq > end]
    if beyond:
        return count, Finding(
            end + 1, "removed", f"checkpoint {min(beyond)} signs rows no longer in the log"
        )
    return count, None


def _check(
    row: AuditRow,
    last: AuditRow | None,
    before_last: tuple[str, int],
    checkpoint: Checkpoint | None,
) -> Finding | None:
    head, head_seq = (last.hash, last.seq) if last else (GENESIS, 0)
    if row_hash(row.prev_hash, row.content()) != row.hash:
        return Finding(row.seq, "changed", "its hash does not match its content")
    if row.seq != head_seq + 1:
        return Finding(head_seq + 1, "removed", f"row {row.seq} follows a gap")
    if row.prev_hash != head:
        if last is not None and row.prev_hash == before_last[0]:
            return Finding(
                last.seq, "inserted", f"row {row.seq} follows row {before_last[1]} directly"
            )
        return Finding(
            row.seq,
            "removed",
            f"it does not follow row {head_seq}: a row between them was removed "
            f"(or row {head_seq} was changed and its hash recomputed)",
        )
    if checkpoint is not None and checkpoint.hash != row.hash:
        return Finding(row.seq, "changed", "the chain differs from its signed checkpoint")
    return None


def _bad_signature(checkpoint: Checkpoint, ring: KeyRing) -> str | None:
    entry = ring.get(checkpoint.key_id)
    if entry is None or entry.system is not SystemId.HUB:
        return f"checkpoint key {checkpoint.key_id} is not a hub key of the ring"
    try:
        entry.signing_key().verify(
            b64decode(checkpoint.signature),
            checkpoint_input(checkpoint.seq, checkpoint.hash, checkpoint.signed_at),
        )
    except (InvalidSignature, ValueError):
        return "checkpoint signature does not verify"
    return None
