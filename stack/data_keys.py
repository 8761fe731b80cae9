"""The cities' data keys (R48): where they are, making them, and rotating one.

Each city's folder is `SESSHU_ADAPTERS__DATA_KEY_DIR/<code>/` (unset: under the adapters'
key folder, `<key_dir>/data/<code>/`). A city's adapters load every key there at start-up
and stop at once, naming the setting, if there is none. A rotation makes a new key the
current one, then seals every ciphertext of the city's adapter database again under it
and recomputes the blind indexes (`adapters.store.sealed.rekey`), batch by batch; an old
key whose ciphertexts are all gone can then be removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapters.store.atrest import KEY_SUFFIX, DataKey, DataKeyError, DataKeys, write_data_key
from adapters.store.db import AdapterDb
from adapters.store.sealed import key_usage, rekey
from contracts.codes import LocalGovCode
from hub.settings import Settings

__all__ = [
    "SETTING",
    "Rotation",
    "city_data_keys",
    "make_data_key",
    "provision_data_keys",
    "rotate",
]

SETTING = "SESSHU_ADAPTERS__DATA_KEY_DIR"


def city_data_keys(settings: Settings, city: str) -> DataKeys:
    """The city's data keys; DataKeyError naming the setting (never a value) if missing."""
    try:
        return DataKeys.load(settings.adapters.data_key_folder(city), city)
    except DataKeyError as exc:
        raise DataKeyError(
            f"{exc} in {SETTING}/{city}/ (where that is unset, SESSHU_ADAPTERS__KEY_DIR"
            f"/data/{city}/): `sesshu stack keys` or `sesshu stack data-key generate "
            f"--municipality {city}` makes one"
        ) from None


def make_data_key(folder: Path, city: str) -> DataKey:
    """A new key in a city's folder, newer than every key already there: the current one."""
    code = str(LocalGovCode(city))  # a code, not a path: CodeError otherwise
    now = datetime.now(UTC)
    try:
        newest = DataKeys.load(folder, code).current.created_at
        now = max(now, newest + timedelta(microseconds=1))
    except DataKeyError:
        pass
    key = DataKey.new(code, now)
    write_data_key(folder, key)
    return key


def provision_data_keys(cities: tuple[str, ...], root: Path) -> list[str]:
    """A data key for each city whose folder under `root` holds none; the key ids made."""
    made = []
    for city in cities:
        folder = root / city
        if not any(folder.glob(f"*{KEY_SUFFIX}")):
            made.append(make_data_key(folder, city).key_id)
    return made


@dataclass
class Rotation:
    """What a rotation did."""

    current: str
    """The key everything is sealed under now."""
    rewritten: dict[str, int]
    """Rows sealed again, by table."""
    usage: dict[str, int]
    """Ciphertexts by key id, afterwards."""
    removed: list[str] = field(default_factory=list)
    still_used: list[str] = field(default_factory=list)
    """Old keys that still seal something (written meanwhile by adapters started before)."""


async def rotate(
    settings: Settings, city: str, *, new_key: bool = True, remove_old: bool = False
) -> Rotation:
    """Make a new data key current (unless `new_key` is False: only seal again what an
    older key sealed), re-encrypt the city's adapter database under it, and with
    `remove_old` delete the old key files no ciphertext needs any more."""
    folder = settings.adapters.data_key_folder(city)
    if new_key:
        make_data_key(folder, city)
    keys = city_data_keys(settings, city)
    db = await AdapterDb.open(settings.adapters.database_for(city), size=1)
    try:
        rewritten = await rekey(db, keys)
        usage = await key_usage(db)
    finally:
        await db.close()
    done = Rotation(keys.current.key_id, rewritten, usage)
    for old in keys.key_ids[:-1]:
        if usage.get(old, 0):
            done.still_used.append(old)
        elif remove_old:
            (folder / f"{old}{KEY_SUFFIX}").unlink()
            done.removed.append(old)
    return done
