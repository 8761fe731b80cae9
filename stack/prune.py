"""Retention on the adapters' side: a city's adapter database (health management's doses
after five years, the intermediate server's 情報提供等記録 after their seven) and health
management's files (`adapters/health_mgmt/retention.py`). A city's host runs it every
SESSHU_RETENTION__INTERVAL_SECONDS; `sesshu stack prune [--dry-run]` runs it now.

What was removed is recorded with its counts, never its content: a `retention_log` row in
the city's database for each transaction (and one for the files), and a log line. The hub's
own database is `sesshu prune` (the hub imports no adapter, so it cannot do this part).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated

import typer

from adapters.health_mgmt.retention import due_files, remove
from adapters.intermediate.records import RETENTION
from adapters.store.db import AdapterDb
from adapters.store.retention import DOSES, RECORDS, PgRetention
from hub.cli_common import settings_or_exit
from hub.desk import cli_actor
from hub.errors import DatabaseUnavailable
from hub.retention import Pruned, age_text, merged, report
from hub.settings import Settings

__all__ = [
    "STACK_ACTOR",
    "file_ages",
    "file_cutoffs",
    "prune_city",
    "prune_command",
    "prune_systems",
    "years_before",
]

log = logging.getLogger("sesshu.stack.retention")
STACK_ACTOR = "system:stack"
_R47 = "past retention_until (7 y, R47)"


def years_before(moment: datetime, years: int) -> datetime:
    """The same moment `years` calendar years earlier (29 February: the 28th)."""
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:
        return moment.replace(year=moment.year - years, day=28)


def file_cutoffs(settings: Settings, now: datetime) -> dict[str, datetime]:
    """Each kind of health management's files and the time before which it goes."""
    vaccination = years_before(now, settings.retention.vaccination_record_years)
    return {
        "records": vaccination,
        "dose_record": vaccination,
        "vaccination_export": vaccination,
        "inquiry_result": now - timedelta(hours=settings.adapters.result_retention_hours),
        "provision_record": now - RETENTION,
    }


def file_ages(settings: Settings) -> dict[str, str]:
    """How each kind of file's period reads in a report."""
    years = f"older than {settings.retention.vaccination_record_years} y"
    result = timedelta(hours=settings.adapters.result_retention_hours)
    return {
        "records": years,
        "dose_record": years,
        "vaccination_export": years,
        "inquiry_result": f"older than {age_text(result)} (R42)",
        "provision_record": f"older than {age_text(RETENTION)} (R47)",
    }


async def prune_systems(
    db: AdapterDb,
    health_root: Path | None,
    settings: Settings,
    *,
    dry_run: bool,
    actor: str,
    kinds: Collection[str] = (DOSES, RECORDS),
) -> list[Pruned]:
    """Prune `kinds` in one city's adapter database and, given `health_root`, health
    management's files under it; what went (or, dry, would go), by kind and age. A city
    system prunes only its own (health management its doses and files, the intermediate
    server its records); the operator's `sesshu stack prune` everything."""
    now = datetime.now(UTC)
    years = settings.retention.vaccination_record_years
    store = PgRetention(db)
    removed = await store.prune(
        years=years, batch=settings.retention.batch, dry_run=dry_run, actor=actor, kinds=kinds
    )
    lines = [
        Pruned(
            f"health_mgmt.{r.what}",
            f"older than {years} y (vaccinated)",
            r.count,
            "doses",
            _moment(r.oldest),
        )
        if r.what == DOSES
        else Pruned(f"intermediate.{r.what}", _R47, r.count, "records", _moment(r.oldest))
        for r in removed
    ]
    if health_root is not None:
        lines += await _files(store, health_root, settings, now, dry_run=dry_run, actor=actor)
    lines = [line for line in merged(lines) if line.count]
    if lines and not dry_run:
        log.info("retention: removed %s", ", ".join(f"{p.count} {p.what} {p.unit}" for p in lines))
    return lines


async def _files(
    store: PgRetention,
    root: Path,
    settings: Settings,
    now: datetime,
    *,
    dry_run: bool,
    actor: str,
) -> list[Pruned]:
    due = await asyncio.to_thread(due_files, root, file_cutoffs(settings, now))
    oldest = {kind: await asyncio.to_thread(_oldest, paths) for kind, paths in due.items()}
    counts = {kind: len(paths) for kind, paths in due.items()}
    if not dry_run and due:
        counts = {kind: await asyncio.to_thread(remove, paths) for kind, paths in due.items()}
        await store.log(actor, {f"health_mgmt.{kind} files": n for kind, n in counts.items()})
    ages = file_ages(settings)
    return [
        Pruned(f"health_mgmt.{kind}", ages[kind], counts[kind], "files", oldest[kind])
        for kind in due
    ]


def _oldest(paths: Sequence[Path]) -> datetime | None:
    times = [p.stat().st_mtime for p in paths if p.exists()]
    return datetime.fromtimestamp(min(times), UTC) if times else None


def _moment(day: date | None) -> datetime | None:
    if day is None or isinstance(day, datetime):
        return day
    return datetime.combine(day, time(), UTC)


async def prune_city(
    settings: Settings, city: str, *, dry_run: bool, actor: str = STACK_ACTOR
) -> list[Pruned]:
    """Prune one city's adapters' database and files, on a pool of its own."""
    db = await AdapterDb.open(settings.adapters.database_for(city), size=1)
    try:
        root = settings.adapters.data_dir / city / "health_mgmt"
        return await prune_systems(db, root, settings, dry_run=dry_run, actor=actor)
    finally:
        await db.close()


def prune_command(
    *,
    municipality: Annotated[
        list[str] | None,
        typer.Option(help="a city to prune (repeatable; default: SESSHU_ADAPTERS__MUNICIPALITIES)"),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print what would go, by kind and age; change nothing")
    ] = False,
) -> None:
    """Remove what the cities' systems keep past its retention: health management's
    vaccination records after five years (doses, returned 予診票 files, VRS exports and
    deliveries), its copies of inquiry results after R42's period, the intermediate
    server's 情報提供等記録 after seven years; each recorded with its counts."""
    settings = settings_or_exit()
    cities = municipality or list(settings.adapters.municipalities)
    for city in cities:
        if city not in settings.adapters.municipalities:
            typer.echo(f"error: {city} is not one of SESSHU_ADAPTERS__MUNICIPALITIES", err=True)
            raise typer.Exit(2)
    for city in cities:
        try:
            lines = asyncio.run(prune_city(settings, city, dry_run=dry_run, actor=cli_actor()))
        except DatabaseUnavailable as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"{city}:")
        for line in report(lines, datetime.now(UTC), dry_run=dry_run):
            typer.echo(f"  {line}")
