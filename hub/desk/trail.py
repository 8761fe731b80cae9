"""The audit trail through the desk: search, checkpoints, journal seals, verification,
and the policy and key-ring changes the hub starts with."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from contracts.canonical import format_datetime
from contracts.codes import masked_my_numbers
from contracts.keys import KeyRing
from hub import audit
from hub.approvals import Role, Staff
from hub.desk.common import (
    HUB_ACTOR,
    JOURNAL_SEALED,
    DeskBase,
    Forbidden,
    Terminal,
)
from hub.store.rows import ProvisionRow

__all__ = ["SEARCHED", "SEARCH_REFUSED", "Trail"]

SEARCHED = "audit.searched"
SEARCH_REFUSED = "audit.search_refused"


class Trail(DeskBase):
    """Audit search, checkpoints, journal seals and verification."""

    async def audit_search(
        self,
        who: Staff,
        *,
        actor: str | None = None,
        action: str | None = None,
        subject: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
        terminal: Terminal | None = None,
    ) -> list[audit.AuditRow]:
        """Audit rows, newest first: auditors see their municipality's, admins all. The
        search is audited (`audit.searched`, its filters, My Numbers masked), and so is a
        refused one (`audit.search_refused`)."""
        async with self._refusal_audited(who, SEARCH_REFUSED, terminal):
            municipality = self._audited_municipality(who)
        rows = await self.store.audit_search(
            actor=actor,
            action=action,
            subject=subject,
            municipality=municipality,
            since=since,
            limit=limit,
            offset=offset,
        )
        filters = {"actor": actor, "action": action, "subject": subject}
        async with self.store.transaction() as tx:
            await tx.audit(
                at=self._now(),
                actor=who.user_id,
                action=SEARCHED,
                municipality=who.municipality,
                terminal=None if terminal is None else terminal.as_dict(),
                detail={
                    **{k: None if v is None else masked_my_numbers(v) for k, v in filters.items()},
                    "since": None if since is None else format_datetime(since),
                    "scope": municipality,
                    "limit": limit,
                    "offset": offset,
                    "rows": len(rows),
                },
            )
        return rows

    async def provision_records(self, who: Staff, *, limit: int = 100) -> list[ProvisionRow]:
        """The latest 情報提供等記録 (R47): auditors see those where their municipality is a
        party, admins all."""
        return await self.store.provision_records(self._audited_municipality(who), limit)

    @staticmethod
    def _audited_municipality(who: Staff) -> str | None:
        if not (who.roles & {Role.AUDITOR, Role.ADMIN}):
            raise Forbidden("not_an_auditor", "only auditors and admins read the records")
        return None if Role.ADMIN in who.roles else who.municipality

    async def checkpoint(self) -> audit.Checkpoint | None:
        """Sign the chain's head if it moved since the last checkpoint."""
        signer = self._hub_signer()
        async with self.store.transaction() as tx:
            head = await tx.head()
            if head is None:
                return None
            checkpoint = audit.sign_checkpoint(signer, head[0], head[1], self._now())
            await tx.checkpoint(checkpoint)
        return checkpoint

    async def verify(self, ring: KeyRing) -> tuple[int, audit.Finding | None]:
        """Recompute the whole chain, check every checkpoint, then every journal seal."""
        rows = [row async for row in self.store.audit_rows()]
        count, finding = audit.verify(rows, await self.store.checkpoints(), ring)
        if finding is not None:
            return count, finding
        async with self.store.transaction() as tx:
            for row in rows:
                if row.action != JOURNAL_SEALED:
                    continue
                after, upto = int(row.detail["after_seq"]), int(row.detail["upto_seq"])
                found, digest = await tx.journal_digest(after, upto)
                if (found, digest) != (row.detail["rows"], row.detail["sha256"]):
                    return count, audit.Finding(
                        row.seq,
                        "journal",
                        f"journal rows {after + 1}-{upto} changed, removed or inserted since "
                        f"this row sealed them ({found} rows now, {row.detail['rows']} sealed)",
                    )
        return count, None

    async def seal_journal(self, lag_seconds: float, most: int = 20_000) -> audit.AuditRow | None:
        """Append a seal of the journal rows received since the last seal (at least
        `lag_seconds` ago, at most `most` of them) to the audit chain: every routing
        decision becomes as tamper-evident as the audit log. None if nothing is new.

        The digest is computed before the append lock is taken, so hashing never holds up
        a decision; if another process sealed meanwhile, this one gives way."""
        last = await self.store.last_detail(JOURNAL_SEALED)
        after = int(last["upto_seq"]) if last else 0
        async with self.store.transaction() as tx:
            upto = await tx.journal_upto(after, lag_seconds)
            if upto is None:
                return None
            upto = min(upto, after + most)
            rows, digest = await tx.journal_digest(after, upto)
        async with self.store.transaction() as tx:
            await tx.lock_audit()
            now_last = await tx.last_detail(JOURNAL_SEALED)
            if (int(now_last["upto_seq"]) if now_last else 0) != after:
                return None
            return await tx.audit(
                at=self._now(),
                actor=HUB_ACTOR,
                action=JOURNAL_SEALED,
                detail={"after_seq": after, "upto_seq": upto, "rows": rows, "sha256": digest},
            )

    async def record_change(self, action: str, detail: Mapping[str, Any]) -> bool:
        """Audit a policy or key-ring change the hub starts with; False if unchanged.
        Compared under the append lock, so workers starting together record it once."""
        async with self.store.transaction() as tx:
            await tx.lock_audit()
            if await tx.last_detail(action) == dict(detail):
                return False
            await tx.audit(at=self._now(), actor=HUB_ACTOR, action=action, detail=detail)
        return True
