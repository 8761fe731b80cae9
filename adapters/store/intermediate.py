"""PostgreSQL implementations of the intermediate server adapter's ports (schema
`intermediate` of a city's adapter database): the 符号 registry and the 副本 store."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from adapters.ports import History, in_date_order
from adapters.store.queries import query
from contracts.codes import InternalPersonNumber, LinkageCode
from contracts.payloads import DoseHistoryItem, FukuhonRegistration
from storekit.translate import translated

__all__ = ["Executor", "PgFukuhon", "PgLinkage"]


class Executor(Protocol):
    """An asyncpg pool, or an `AdapterDb` that runs on a delivery's transaction."""

    async def execute(self, sql: str, *args: Any) -> str: ...
    async def fetch(self, sql: str, *args: Any) -> list[Any]: ...
    async def fetchval(self, sql: str, *args: Any) -> Any: ...


@dataclass
class PgLinkage:
    """The 符号 ↔ 団体内統合宛名番号 mapping."""

    pool: Executor

    async def code_for(self, agency: str, person: InternalPersonNumber) -> LinkageCode | None:
        """The agency's code for the person, if one was issued."""
        with translated():
            code = await self.pool.fetchval(query("linkage_code_for"), agency, str(person))
        return None if code is None else LinkageCode(code)

    async def person_for(self, agency: str, code: LinkageCode) -> InternalPersonNumber | None:
        """The person an agency's code stands for, if any."""
        with translated():
            person = await self.pool.fetchval(query("linkage_person_for"), agency, str(code))
        return None if person is None else InternalPersonNumber(person)

    async def put(
        self, agency: str, person: InternalPersonNumber, code: LinkageCode
    ) -> LinkageCode:
        """Record a new code unless the person already has one at this agency."""
        with translated():
            kept = await self.pool.fetchval(query("linkage_put"), agency, str(person), str(code))
        return LinkageCode(kept)


@dataclass
class PgFukuhon:
    """The 副本, one row per (person, data item), doses as JSON in date order."""

    pool: Executor

    async def apply(self, registration: FukuhonRegistration) -> None:
        """Store (upsert) or remove (delete) one person's 副本 for a data item."""
        key = (str(registration.person), str(registration.data_item))
        with translated():
            if registration.operation == "delete":
                await self.pool.execute(query("fukuhon_delete"), *key)
                return
            doses = in_date_order(registration.history)
            history = json.dumps([d.model_dump(mode="json") for d in doses])
            await self.pool.execute(query("fukuhon_upsert"), *key, history)

    async def history(self, person: str, data_item: str) -> History | None:
        """One person's 副本, if registered."""
        with translated():
            raw = await self.pool.fetchval(query("fukuhon_history"), person, data_item)
        return None if raw is None else _history(raw)

    async def everything(self, data_item: str) -> Mapping[str, History]:
        """Every person's 副本 of a data item."""
        with translated():
            rows = await self.pool.fetch(query("fukuhon_all"), data_item)
        return {row["person"]: _history(row["history"]) for row in rows}


def _history(raw: str | list[object]) -> History:
    items = json.loads(raw) if isinstance(raw, str) else raw
    return tuple(DoseHistoryItem.model_validate(item) for item in items)
