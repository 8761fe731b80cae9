"""Accounts: staff added and disabled, their terminals changed (R26/R27), contractors
added with their roster entry (R23), API tokens issued, each audited (R16, R18), and
every request a contractor makes at the desk audited; on the log-in and sessions of
sessions.py."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from contracts.codes import LocalGovCode, masked_my_numbers
from hub import staff
from hub.approvals import Role, Staff
from hub.desk.access import RosterEntry, contractor_problem, network, sorted_networks
from hub.desk.common import DeskError, NotAuthenticated, Terminal, cli_actor, cli_terminal
from hub.desk.sessions import Sessions
from hub.store.desk import DeskTransaction
from hub.store.rows import Network, StaffRow

__all__ = ["Accounts"]


class Accounts(Sessions):
    """Staff accounts and API tokens, with log-in and sessions."""

    async def add_staff(
        self,
        user_id: str,
        *,
        roles: Sequence[Role],
        municipality: str,
        department: str,
        password: str | None,
        terminals: Sequence[str],
        may_reveal: bool = False,
        roster: RosterEntry | None = None,
        actor: str | None = None,
    ) -> None:
        """Create a person's account (with a password) or a system's (password None), with
        the terminals it may act from (none: it signs in to nothing until one is added)
        and, for a contractor, its roster entry."""
        code = _checked_account(user_id, municipality, department, roles)
        networks = _networks(terminals)
        _check_contractor(roles, roster, person=password is not None, may_reveal=may_reveal)
        digest = (
            await asyncio.to_thread(staff.hash_password, password) if password is not None else None
        )
        kind = "person" if password is not None else "system"
        async with self.store.transaction() as tx:
            created = await self.store.add_staff(
                tx,
                user_id=user_id,
                kind=kind,
                roles=[r.value for r in roles],
                municipality=code,
                department=department,
                may_reveal=may_reveal,
                password_hash=digest,
                terminals=networks,
            )
            if not created:
                raise DeskError("user_exists", f"user {user_id} already exists")
            detail: dict[str, object] = {
                "kind": kind,
                "roles": sorted(r.value for r in roles),
                "department": department,
                "may_reveal": may_reveal,
                "terminals": [str(n) for n in networks],
            }
            if roster is not None:
                await self._add_roster_entry(tx, user_id, roster)
                detail["roster"] = roster.audited()
            await tx.audit(
                at=self._now(),
                actor=actor or cli_actor(),
                action="staff.added",
                subject=user_id,
                municipality=code,
                detail=detail,
            )

    async def _add_roster_entry(
        self, tx: DeskTransaction, user_id: str, roster: RosterEntry
    ) -> None:
        await self.store.add_roster_entry(
            tx,
            user_id,
            company=roster.company,
            person=roster.person,
            valid_from=roster.valid_from,
            valid_until=roster.valid_until,
        )

    async def change_terminals(
        self,
        user_id: str,
        *,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
        actor: str | None = None,
    ) -> tuple[Network, ...]:
        """Add and remove terminals of an account (audited when anything changed); the
        terminals it has now. Removing one it does not have is refused."""
        added, removed = _networks(add), _networks(remove)
        async with self.store.transaction() as tx:
            found = await self.store.lock_terminals(tx, user_id)
            if found is None:
                raise DeskError("no_such_user", f"user {user_id} does not exist")
            before, municipality = found
            if not set(removed) <= set(before):
                raise DeskError("terminal_not_listed", "a terminal to remove is not listed")
            after = sorted_networks(n for n in (*before, *added) if n not in removed)
            if after == sorted_networks(before):
                return after
            await self.store.set_terminals(tx, user_id, after)
            await tx.audit(
                at=self._now(),
                actor=actor or cli_actor(),
                action="staff.terminals.changed",
                subject=user_id,
                municipality=municipality,
                detail={
                    "added": [str(n) for n in added if n not in before],
                    "removed": [str(n) for n in removed],
                    "terminals": [str(n) for n in after],
                },
            )
        return after

    async def roster_names(self) -> dict[str, str]:
        """The person each contractor's roster entry names, by user id (for listing the
        roster to an admin; never for a log)."""
        return await self.store.roster_names()

    async def contractor_request(
        self,
        who: Staff,
        *,
        method: str,
        route: str,
        params: Mapping[str, str],
        status: int,
        terminal: Terminal,
    ) -> None:
        """Audit one request a contractor made at the desk (R23): the method, the route's
        template and its path parameters (never a query string), the answer's status."""
        async with self.store.transaction() as tx:
            await tx.audit(
                at=self._now(),
                actor=who.user_id,
                action="contractor.request",
                subject=who.user_id,
                municipality=who.municipality,
                terminal=terminal.as_dict(),
                detail={
                    "method": method,
                    "route": route,
                    "params": {k: masked_my_numbers(v)[:PARAM_MAX] for k, v in params.items()},
                    "status": status,
                },
            )

    async def disable_staff(self, user_id: str, *, actor: str | None = None) -> int:
        """Disable an account (R18) and end its sessions and tokens; sessions ended."""
        known = await self.store.staff(user_id)
        async with self.store.transaction() as tx:
            disabled, ended = await self.store.disable_staff(user_id, tx)
            if known is None or not disabled:
                raise DeskError(
                    "no_such_user" if known is None else "already_disabled",
                    f"user {user_id} " + ("does not exist" if known is None else "is disabled"),
                )
            await tx.audit(
                at=self._now(),
                actor=actor or cli_actor(),
                action="staff.disabled",
                subject=user_id,
                municipality=known.municipality,
                detail={"sessions_ended": ended},
            )
        return ended

    async def account(self, user_id: str) -> Staff:
        """An account by id, for a tool acting as it; NotAuthenticated if unknown or
        disabled."""
        row = await self.store.staff(user_id)
        if row is None:
            raise NotAuthenticated("no_such_user", f"user {user_id} does not exist")
        account = row.as_staff()
        if account.disabled:
            raise NotAuthenticated("account_disabled", f"user {user_id} is disabled")
        return account

    async def issue_token(
        self, user_id: str, *, label: str, days: float, actor: str | None = None
    ) -> str:
        """A new API token for an account; only its digest is kept."""
        row = await self.store.staff(user_id)
        if row is None or row.disabled_at is not None:
            raise DeskError("no_such_user", f"user {user_id} does not exist or is disabled")
        async with self.store.transaction() as tx:
            secret = await self._open(
                tx, user_id, "api_token", label, cli_terminal(), seconds=days * 86400
            )
            await tx.audit(
                at=self._now(),
                actor=actor or cli_actor(),
                action="token.issued",
                subject=user_id,
                municipality=row.municipality,
                detail={"label": label, "days": days},
            )
        return secret

    async def staff_list(self) -> list[StaffRow]:
        """Every account (no password hashes)."""
        return await self.store.staff_list()


PARAM_MAX = 64


def _networks(terminals: Sequence[str]) -> tuple[Network, ...]:
    """The terminals as networks, each once; DeskError naming what is wrong (never the
    text given)."""
    try:
        return sorted_networks(network(text) for text in terminals)
    except ValueError as exc:
        raise DeskError("invalid_terminal", f"terminal: {exc}") from None


def _check_contractor(
    roles: Sequence[Role], roster: RosterEntry | None, *, person: bool, may_reveal: bool
) -> None:
    problem = contractor_problem(frozenset(roles), roster, person=person, may_reveal=may_reveal)
    if problem is not None:
        raise DeskError(*problem)
    wrong = roster.problem() if roster is not None else None
    if wrong is not None:
        raise DeskError("invalid_roster", f"{wrong[0]}: {wrong[1]}")


def _checked_account(
    user_id: str, municipality: str, department: str, roles: Sequence[Role]
) -> str:
    """The account's municipality code, once its id, department and roles are valid."""
    if not staff.USER_ID.fullmatch(user_id):
        raise DeskError("invalid_user_id", "user id: 2-64 of a-z 0-9 . _ - (no names)")
    code = str(LocalGovCode(municipality))
    if not staff.USER_ID.fullmatch(department):
        raise DeskError("invalid_department", "department: 2-64 of a-z 0-9 . _ -")
    if not roles:
        raise DeskError("invalid_roles", "roles: at least one role")
    return code
