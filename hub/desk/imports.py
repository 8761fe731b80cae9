"""Manual imports at the desk (R01 「担当者間の二重チェック及び上長のチェック」): a batch the
hub holds as `manual_import` (routing/decision.py: what a person made a system send of a
data item the policy's `manual_imports.csv` names) waits until two operators of its
department have checked it and a 所属長 who checked none of it has signed it off; then
its rows go out as they were sent, each exactly once. A batch is the rows that share a
correlation id (`sesshu import records` gives every row of a file its file's). The rules
are `hub.approvals.check` and `approve`; a batch is rejected row by row, as any held
message is (`Decisions.reject`), which needs no checks.

What a checker and a 所属長 see is the batch's metadata (rows, who imported it, when, the
checks so far): the rows are sealed to the intermediate server. They check the batch
against its source documents and the import's result file, which name the same batch.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from functools import partial
from uuid import UUID

from hub import approvals
from hub.approvals import Role, Staff
from hub.desk.common import (
    DeskBase,
    Forbidden,
    NotAuthenticated,
    NotFound,
    Refused,
    Terminal,
    clean_comment,
    count_decisions,
    queue_release,
    refusing,
)
from hub.store.desk import DeskTransaction
from hub.store.rows import HeldMessage, ImportBatch

__all__ = ["Imports"]

CHECKED, CHECK_REFUSED = "held.checked", "held.check_refused"
SIGNED_OFF, SIGN_OFF_REFUSED = "held.signed_off", "held.sign_off_refused"
MAX_BATCHES = 200


def unknown_batch() -> NotFound:
    """A batch that does not exist, is decided, or is another department's: alike."""
    return NotFound("not_found", "no held manual import with that id")


class Imports(DeskBase):
    """Manual imports: the batches waiting, an operator's check, a 所属長's sign-off."""

    async def imports(self, who: Staff) -> list[ImportBatch]:
        """The batches held in `who`'s municipality and department (an operator's or an
        approver's), oldest first, with the checks so far."""
        if who.disabled:
            raise NotAuthenticated("account_disabled", "the account is disabled")
        if not who.roles & {Role.OPERATOR, Role.APPROVER}:
            raise Forbidden("not_an_operator", "operators and approvers see the manual imports")
        return await self.store.import_batches(who.municipality, who.department, MAX_BATCHES)

    async def check(
        self, who: Staff, batch: str, *, terminal: Terminal, rows: int | None = None
    ) -> int:
        """`who` checks every row of a batch (R01), each once; `rows`, the rows they were
        shown (the batch is refused, `batch_changed`, when it holds another number: rows
        may still be arriving). The rows checked now (a row they checked before stays
        checked; a batch they have checked whole is refused, `already_checked`)."""
        async with self._refusal_audited(who, CHECK_REFUSED, terminal, batch):
            refusing(lambda: approvals.may_check_any(who))
            async with self.store.transaction() as tx:
                locked = await self._locked_batch(tx, who, batch, rows)
                now, checked_now = self._now(), 0
                for message, checked in locked:
                    if who.user_id in checked:
                        continue
                    held = replace(message.row.as_held(), checked_by=checked)
                    refusing(partial(approvals.check, held, who, now))
                    checked_now += await tx.check_import(message.row.message_id, who.user_id, now)
                if not checked_now:
                    raise Refused("already_checked", "each operator checks an import once")
                await tx.audit(
                    at=now,
                    actor=who.user_id,
                    action=CHECKED,
                    subject=batch,
                    municipality=who.municipality,
                    terminal=terminal.as_dict(),
                    detail={"rows": len(locked), "checked_now": checked_now},
                )
        return checked_now

    async def sign_off(
        self,
        who: Staff,
        batch: str,
        *,
        terminal: Terminal,
        comment: str | None = None,
        rows: int | None = None,
    ) -> int:
        """A 所属長 signs a checked batch off (R01): each row released to the outbox as it
        was sent, exactly once, the decision audited; `rows` as for `check`. The rows
        released."""
        async with self._refusal_audited(who, SIGN_OFF_REFUSED, terminal, batch):
            refusing(lambda: approvals.may_decide_any(who))
            comment = clean_comment(comment)
            async with self.store.transaction() as tx:
                locked = await self._locked_batch(tx, who, batch, rows)
                now = self._now()
                for message, checked in locked:
                    held = replace(message.row.as_held(), checked_by=checked)
                    decided = refusing(partial(approvals.approve, held, who, now, comment))
                    await _release(tx, message, approvals.release(decided), now)
                checkers = sorted(frozenset().union(*(checked for _, checked in locked)))
                await tx.audit(
                    at=now,
                    actor=who.user_id,
                    action=SIGNED_OFF,
                    subject=batch,
                    municipality=who.municipality,
                    terminal=terminal.as_dict(),
                    detail={"rows": len(locked), "checked_by": checkers, "comment": comment or ""},
                )
        count_decisions("approved", locked[0][0], now, rows=len(locked))
        return len(locked)

    @staticmethod
    async def _locked_batch(
        tx: DeskTransaction, who: Staff, batch: str, rows: int | None
    ) -> list[tuple[HeldMessage, frozenset[str]]]:
        """The batch's held rows in `who`'s municipality and department, locked: another's
        batch answers as an unknown one."""
        try:
            batch = str(UUID(batch))
        except ValueError:
            raise unknown_batch() from None
        locked = await tx.lock_import(batch, who.municipality, who.department)
        if not locked:
            raise unknown_batch()
        if rows is not None and rows != len(locked):
            raise Refused(
                "batch_changed", f"the batch holds {len(locked)} rows, not the {rows} shown"
            )
        return locked


async def _release(
    tx: DeskTransaction, message: HeldMessage, released: approvals.Held, now: datetime
) -> None:
    """Queue a signed-off row's journaled bytes and mark it released."""
    row = message.row
    await queue_release(tx, message, row.kind or "")
    await tx.decide(
        row.message_id,
        released.state.value,
        decided_by=released.decided_by,
        decided_at=now,
        comment=released.comment,
        released_at=now,
    )
