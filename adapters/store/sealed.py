"""What a city's adapter database keeps encrypted (R48), how a sealed column reads back
(`SealedTable`, over the data keys of `atrest`), and the re-encryption under the
municipality's current data key after a rotation (`rekey`).

Sealed, each value bound to its row's primary key:

    ims.residents  (person)      resident_code, my_number, name, name_kana, birth_date, sex,
                                 address
    vrs.targets    (basic_code)  my_number (+ blind index my_number_index), name, name_kana,
                                 birth_date, sex, address

Left as they are, on purpose: the person number (団体内統合宛名番号), the basic code and the
ticket number are the city's own reference numbers, which every key, join, uniqueness rule,
ordered export (F13) and flag (F16) is built on and the VRS export carries by design; what
they point at is sealed. The 副本, the inquiries' results and the doses hold dose facts
only, no name, number or address; the network's table holds a keyed hash of the 住民票コード,
never the code; certificate applications are never stored (R50).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from adapters.store.atrest import DataKeys, Place, key_id_of
from adapters.store.db import AdapterDb
from adapters.store.queries import query
from storekit.translate import translated

__all__ = ["RESIDENTS", "SEALED", "TARGETS", "Kind", "SealedTable", "key_usage", "rekey"]

Kind = Literal["text", "date", "int"]
"""How a sealed column reads back: the type its plaintext column had."""


@dataclass(frozen=True)
class SealedTable:
    """Which columns of one table are ciphertext, what each reads back as, and which carry
    a blind index (`indexed`: column -> its index column)."""

    table: str
    row_key: str
    columns: Mapping[str, Kind]
    indexed: Mapping[str, str] = field(default_factory=dict)

    def sealed(self, keys: DataKeys, row: Mapping[str, Any]) -> dict[str, Any]:
        """`row` with its sealed columns as ciphertext and their blind indexes added."""
        out = dict(row)
        key = str(row[self.row_key])
        for column, kind in self.columns.items():
            value = row[column]
            out[column] = (
                None
                if value is None
                else keys.seal(_encoded(self, column, kind, value), Place(self.table, column, key))
            )
        for column, index in self.indexed.items():
            value = row[column]
            out[index] = None if value is None else keys.index(str(value), self.purpose(column))
        return out

    def opened(self, keys: DataKeys, row: Mapping[str, Any]) -> dict[str, Any]:
        """A row as read, its sealed columns opened and its index columns left out."""
        out = {k: v for k, v in row.items() if k not in self.indexed.values()}
        key = str(row[self.row_key])
        for column, kind in self.columns.items():
            blob = row[column]
            if blob is not None:
                plain = keys.open(bytes(blob), Place(self.table, column, key)).decode()
                out[column] = _decoded(kind, plain)
        return out

    def lookup(self, keys: DataKeys, column: str, value: str) -> list[bytes]:
        """The index values a look-up of `column` = `value` asks for (every key's)."""
        return keys.indexes(value, self.purpose(column))

    def purpose(self, column: str) -> str:
        """What a blind index is keyed to: its table and column, so equal values in two
        places do not index alike."""
        return f"{self.table}.{column}"


def _encoded(table: SealedTable, column: str, kind: Kind, value: object) -> bytes:
    if kind == "text" and isinstance(value, str):
        return value.encode()
    if kind == "date" and isinstance(value, date):
        # As asyncpg sends a date: a datetime's own calendar day.
        return date.fromordinal(value.toordinal()).isoformat().encode()
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return str(int(value)).encode()
    raise TypeError(f"{table.table}.{column}: expected {kind}, got {type(value).__name__}")


def _decoded(kind: Kind, plain: str) -> object:
    if kind == "date":
        return date.fromisoformat(plain)
    if kind == "int":
        return int(plain)
    return plain


RESIDENTS = SealedTable(
    "ims.residents",
    "person",
    {
        "resident_code": "text",
        "my_number": "text",
        "name": "text",
        "name_kana": "text",
        "birth_date": "date",
        "sex": "int",
        "address": "text",
    },
)
TARGETS = SealedTable(
    "vrs.targets",
    "basic_code",
    {
        "my_number": "text",
        "name": "text",
        "name_kana": "text",
        "birth_date": "date",
        "sex": "int",
        "address": "text",
    },
    # VRS finds a target by My Number (F15, F17; transfers, F14).
    indexed={"my_number": "my_number_index"},
)


@dataclass(frozen=True)
class _Rekeyed:
    """A sealed table and its re-encryption queries (`atrest.sql`)."""

    table: SealedTable
    queries: str
    """The queries' prefix: `<prefix>_batch`, `_put`, `_keys`."""


SEALED = (_Rekeyed(RESIDENTS, "atrest_residents"), _Rekeyed(TARGETS, "atrest_targets"))


async def rekey(db: AdapterDb, keys: DataKeys, batch: int = 500) -> dict[str, int]:
    """Seal every ciphertext not under the current key again under it, and recompute its
    row's blind indexes: `batch` rows at a time, each batch one transaction. The rows
    rewritten, by table."""
    return {sealed.table.table: await _rekey_table(db, keys, sealed, batch) for sealed in SEALED}


async def _rekey_table(db: AdapterDb, keys: DataKeys, sealed: _Rekeyed, batch: int) -> int:
    table, rewritten, after = sealed.table, 0, None
    while True:
        async with db.transaction():
            rows = [dict(r) for r in await db.fetch(query(f"{sealed.queries}_batch"), after, batch)]
            stale = [r for r in rows if not _current(r, table, keys)]
            if stale:
                fresh = [table.sealed(keys, table.opened(keys, r)) for r in stale]
                await db.execute(query(f"{sealed.queries}_put"), *_columns(table, fresh))
        rewritten += len(stale)
        if len(rows) < batch:
            return rewritten
        after = rows[-1][table.row_key]


def _current(row: dict[str, Any], table: SealedTable, keys: DataKeys) -> bool:
    """True if every ciphertext of the row is under the current key (its indexes too, as
    they are written with it)."""
    blobs = [row[c] for c in table.columns if row[c] is not None]
    return all(key_id_of(bytes(b)) == keys.current.key_id for b in blobs)


def _columns(table: SealedTable, rows: Sequence[dict[str, Any]]) -> list[list[Any]]:
    names = [table.row_key, *table.columns, *table.indexed.values()]
    return [[row[name] for row in rows] for name in names]


async def key_usage(db: AdapterDb) -> dict[str, int]:
    """How many ciphertexts of the database each data key sealed, by key id."""
    usage: dict[str, int] = {}
    with translated():
        for sealed in SEALED:
            for row in await db.fetch(query(f"{sealed.queries}_keys")):
                usage[row["key_id"]] = usage.get(row["key_id"], 0) + row["ciphertexts"]
    return usage
