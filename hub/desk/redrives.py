"""Re-drives through the desk (the design is hub/redrive.py's): an operator's dry run and
confirmation, which queue a request row and audit it, and the hub's side, which takes the
requests up and triages the journaled bytes again under the key ring and policy in force."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from hub.approvals import Role, Staff
from hub.desk.common import (
    HUB_ACTOR,
    DeskBase,
    DeskError,
    Forbidden,
    NotAuthenticated,
    Refused,
    Terminal,
)
from hub.entries import JournalEntry
from hub.pipeline import Triage
from hub.redrive import (
    MAX_REDRIVE,
    REDRIVABLE,
    Outcome,
    RedriveState,
    after_record,
    refused,
    retriage,
    selection_digest,
)
from hub.store.desk import DeskTransaction
from hub.store.operations import Candidate, PendingRedrive, RedriveSelection

__all__ = ["RedrivePreview", "Redrives"]

_PRUNED = "its bytes were removed after their retention period before the hub took it up"


@dataclass(frozen=True, slots=True)
class RedrivePreview:
    """What a re-drive selection names now: the rows, and the digest a confirmation must
    carry (`capped`: the selection names more than one confirmation queues)."""

    selection: RedriveSelection
    candidates: tuple[Candidate, ...]
    capped: bool
    selection_sha256: str

    @property
    def by_reason(self) -> dict[str, int]:
        """How many of each reason code."""
        return dict(Counter(c.reason_code for c in self.candidates))


def _redriver(who: Staff) -> str | None:
    """The municipality whose rows `who` may re-drive (None: an admin's every row too);
    Forbidden unless an operator."""
    if who.disabled:
        raise NotAuthenticated("account_disabled", "the account is disabled")
    if Role.OPERATOR not in who.roles:
        raise Forbidden("not_an_operator", "only operators re-drive dead letters")
    return None if Role.ADMIN in who.roles else who.municipality


def _codes(selection: RedriveSelection) -> list[str]:
    if selection.journal_seq is None and selection.reason_code is None:
        raise DeskError("invalid_selection", "name one journal row or a reason code")
    if selection.reason_code is None:
        return sorted(REDRIVABLE)
    if selection.reason_code not in REDRIVABLE:
        raise DeskError(
            "not_redrivable",
            f"{selection.reason_code} is the sender's to fix, not re-driven "
            f"(re-drivable: {', '.join(sorted(REDRIVABLE))})",
        )
    return [selection.reason_code]


class Redrives(DeskBase):
    """Dry run and confirmation (operators), and the hub's carrying out."""

    async def redrive_preview(self, who: Staff, selection: RedriveSelection) -> RedrivePreview:
        """The refused rows `selection` names that may be re-driven now; changes nothing."""
        scope, codes = _redriver(who), _codes(selection)
        found = await self.store.redrive_candidates(selection, codes, scope, MAX_REDRIVE + 1)
        shown = tuple(found[:MAX_REDRIVE])
        return RedrivePreview(
            selection, shown, len(found) > MAX_REDRIVE, selection_digest(c.seq for c in shown)
        )

    async def redrive(
        self, who: Staff, selection: RedriveSelection, *, selection_sha256: str, terminal: Terminal
    ) -> list[tuple[int, int]]:
        """Queue the re-drive of what a dry run showed (its digest), audited; (re-drive id,
        journal seq) of each queued. Refused if the selection names other rows now."""
        preview = await self.redrive_preview(who, selection)
        if not preview.candidates:
            raise Refused(
                "nothing_to_redrive",
                "no refused message of this selection may be re-driven now "
                "(none, not re-drivable, or re-driven already)",
            )
        if preview.selection_sha256 != selection_sha256:
            raise Refused("selection_changed", "the selection changed since the dry run")
        seqs = [c.seq for c in preview.candidates]
        async with self.store.transaction() as tx:
            queued = await tx.request_redrives(seqs, who.user_id, preview.selection_sha256)
            await tx.audit(
                at=self._now(),
                actor=who.user_id,
                action="redrive.requested",
                subject=f"journal:{seqs[0]}" if len(seqs) == 1 else None,
                municipality=who.municipality,
                terminal=terminal.as_dict(),
                detail={
                    "selection": selection.as_dict(),
                    "selection_sha256": preview.selection_sha256,
                    "count": len(queued),
                    "journal_seqs": [seq for _, seq in queued],
                },
            )
        return queued

    async def run_redrives(
        self, triage: Triage, *, hold_seconds: float, limit: int = 50
    ) -> list[Outcome]:
        """The hub's side: take up to `limit` pending re-drives, one transaction each
        (the row locked, others' skipped), triage their bytes again under `triage` and
        journal what came of it; the outcomes."""
        outcomes = []
        for _ in range(limit):
            async with self.store.transaction() as tx:
                pending = await tx.next_redrive()
                if pending is None:
                    break
                outcome, entry = await _carry_out(tx, pending, triage, hold_seconds)
                await tx.finish_redrive(pending.id, outcome)
                await tx.audit(
                    at=self._now(),
                    actor=HUB_ACTOR,
                    action="redrive.done",
                    subject=(entry and entry.message_id) or f"journal:{pending.journal_seq}",
                    municipality=entry.municipality if entry else None,
                    detail={
                        "redrive": pending.id,
                        "journal_seq": pending.journal_seq,
                        "state": outcome.state.value,
                        "result_seq": outcome.result_seq,
                        "reason_code": outcome.reason_code,
                    },
                )
            outcomes.append(outcome)
        return outcomes


async def _carry_out(
    tx: DeskTransaction, pending: PendingRedrive, triage: Triage, hold_seconds: float
) -> tuple[Outcome, JournalEntry | None]:
    """Triage one re-drive's bytes again and journal the result (dedupe as ever)."""
    if pending.canonical is None:
        return Outcome(RedriveState.UNAVAILABLE, reason_code="pruned", reason=_PRUNED), None
    entry = retriage(pending.canonical, triage, pending.received_at)
    if entry.decision == "reject":
        return refused(entry), entry
    new = await tx.record_redriven(entry, hold_seconds)
    existing = None if new is not None else await tx.journaled_under(entry.dedupe_key)
    return after_record(entry, new, existing), entry
