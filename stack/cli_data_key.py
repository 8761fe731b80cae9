"""`sesshu stack data-key`: the cities' data keys, which encrypt personal data in the
adapters' stores (R48): make one, rotate one, seal again under the current one, and see
which keys still seal something."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from adapters.store.atrest import DataKeyError
from adapters.store.db import AdapterDb
from adapters.store.sealed import key_usage
from contracts.codes import CodeError
from hub.cli_common import settings_or_exit
from hub.settings import Settings
from stack.data_keys import Rotation, city_data_keys, make_data_key, rotate

__all__ = ["data_key_app"]

data_key_app = typer.Typer(
    help="The cities' data keys (encryption at rest in the adapters' stores).",
    no_args_is_help=True,
)
City = Annotated[str, typer.Argument(help="6-digit local-government code")]
RemoveOld = Annotated[
    bool, typer.Option(help="delete the old key files no ciphertext needs any more")
]


@data_key_app.command("generate")
def generate(
    municipality: Annotated[str, typer.Option(help="6-digit local-government code")],
    out: Annotated[
        Path | None,
        typer.Option(help="root of the data key folders (default: the settings')"),
    ] = None,
) -> None:
    """Write a new data key for a city into `<out>/<code>/`; it becomes the current one."""
    settings = settings_or_exit()
    folder = (out / municipality) if out else settings.adapters.data_key_folder(municipality)
    try:
        key = make_data_key(folder, municipality)
    except (CodeError, DataKeyError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(str(folder / f"{key.key_id}.datakey"))


@data_key_app.command("rotate")
def rotate_command(city: City, remove_old: RemoveOld = False) -> None:
    """Make a new data key current and seal the city's adapter database again under it.

    Stop the city's adapters first (or restart them after, then `rekey --remove-old`):
    until they restart they seal what they write under the key they started with."""
    _report(_rotated(city, new_key=True, remove_old=remove_old))


@data_key_app.command("rekey")
def rekey_command(city: City, remove_old: RemoveOld = False) -> None:
    """Seal again under the current key whatever an older key still seals."""
    _report(_rotated(city, new_key=False, remove_old=remove_old))


def _rotated(city: str, *, new_key: bool, remove_old: bool) -> Rotation:
    settings = settings_or_exit()
    try:
        return asyncio.run(rotate(settings, city, new_key=new_key, remove_old=remove_old))
    except (CodeError, DataKeyError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _report(done: Rotation) -> None:
    for table, rows in done.rewritten.items():
        typer.echo(f"{table}: {rows} row(s) sealed again")
    typer.echo(f"current key {done.current}: {done.usage.get(done.current, 0)} ciphertext(s)")
    for key_id in done.removed:
        typer.echo(f"removed old key {key_id}")
    for key_id in done.still_used:
        typer.echo(
            f"old key {key_id} still seals {done.usage[key_id]} ciphertext(s): restart the "
            "city's adapters, then `sesshu stack data-key rekey` again",
            err=True,
        )
    if done.still_used:
        raise typer.Exit(1)


@data_key_app.command("status")
def status(city: City) -> None:
    """Every data key of a city, the current one marked, with what each seals."""
    settings = settings_or_exit()
    try:
        keys = city_data_keys(settings, city)
    except DataKeyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    usage = asyncio.run(_usage(settings, city))
    for key in keys.keys:
        mark = "current" if key is keys.current else "old"
        made = key.created_at.isoformat(timespec="seconds")
        typer.echo(f"{key.key_id}\t{mark}\t{made}\t{usage.get(key.key_id, 0)}")
    missing = sorted(set(usage) - set(keys.key_ids))
    for key_id in missing:
        typer.echo(f"{key_id}\tmissing\t-\t{usage[key_id]}", err=True)
    if missing:
        raise typer.Exit(1)


async def _usage(settings: Settings, city: str) -> dict[str, int]:
    db = await AdapterDb.open(settings.adapters.database_for(city), size=1)
    try:
        return await key_usage(db)
    finally:
        await db.close()
