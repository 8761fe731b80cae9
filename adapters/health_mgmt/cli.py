"""`sesshu import records FILE`: a batch of 予診票 results sent by hand (F3 to F4), with a
progress bar on a terminal; `sesshu import watch DIR` serves the drop folder. Every row
names who keyed it in and where (`操作者`, `端末`), checked against the city's roster
(`SESSHU_ADAPTERS__ROSTER_DIR`) as at the edge's folders, and sent as `sender.operator`.

Each good row goes to the municipality's intermediate server as a signed
`vaccination_record` (B1-10, 副本 registration follows there). Rows keep stable message
ids, so running the same file again sends nothing twice."""

from __future__ import annotations

import asyncio
import functools
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated
from uuid import UUID

import typer
from rich.progress import Progress, TaskID

from adapters.health_mgmt.edge import DropFolder
from adapters.health_mgmt.records_csv import Batch
from adapters.kit import counts
from adapters.kit.acts import ActCheck, RosterFile, tokyo_today
from adapters.kit.bridge import make_broker, publish_signed
from contracts.codes import CodeError, LocalGovCode, SystemId
from contracts.envelope import Envelope, Party, Recipient
from contracts.keys import KeyRing
from contracts.payloads import VaccinationRecord
from contracts.sealing import addressed_envelope, sealing_secret
from contracts.signing import Signer
from hub.settings import Settings
from hub.settings import load as load_settings

__all__ = ["import_app", "record_envelope"]

import_app = typer.Typer(help="Batches from the health-management system.", no_args_is_help=True)
PROCEDURE, DATA_ITEM = "B1-10", "vaccination.record"


def record_envelope(
    record: VaccinationRecord,
    message_id: UUID,
    municipality: str,
    sender: Sender,
    ring: KeyRing,
    *,
    operator: str | None = None,
    batch: UUID | None = None,
) -> Envelope:
    """One imported row as the signed envelope the health-management system sends, sealed
    to the city's intermediate server (a record identifies a person), naming the staff
    account that keyed it in (`sender.operator`), in its batch (the correlation id)."""
    return sender.signer.sign(
        addressed_envelope(
            ring,
            payload=record,
            secret=sender.secret,
            message_id=message_id,
            municipality=municipality,
            sender=Party(system=SystemId.HEALTH_MGMT, instance=sender.instance, operator=operator),
            recipient=Recipient(system=SystemId.INTERMEDIATE, municipality=municipality),
            procedure=PROCEDURE,
            data_items=(DATA_ITEM,),
            key_id=sender.signer.key_id,
            correlation_id=batch,
        )
    )


@dataclass(frozen=True)
class Sender:
    """Who sends the imported rows: the system's signer, its sealing secret (drawn once)
    and the instance name the envelopes carry."""

    signer: Signer
    instance: str
    secret: bytes = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "secret", sealing_secret(self.signer))


def _settings() -> Settings:
    try:
        return load_settings()
    except ValueError as exc:  # names the setting, never its value
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _folder(root: Path, settings: Settings, code: str) -> DropFolder:
    """The drop folder, each batch's rows checked against the city's roster (操作者, 端末:
    the account that keyed the row in and its terminal, R16, R26/R27)."""
    roster = RosterFile(settings.adapters.roster_dir / f"{code}.toml")
    return DropFolder(root, lambda: ActCheck(roster.gate(), (PROCEDURE,), tokyo_today()))


def _signer(key: Path) -> Signer:
    try:
        return Signer.from_file(key)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--key") from None


async def _send(
    settings: Settings, folder: DropFolder, paths: list[Path], municipality: str, signer: Signer
) -> list[Batch]:
    ring, sender = KeyRing.load(settings.signing.ring_dir), Sender(signer, "import-cli")
    broker = make_broker(settings.amqp.url.get_secret_value())
    await broker.connect()
    try:

        async def publish(
            record: VaccinationRecord, message_id: UUID, operator: str | None, batch: UUID
        ) -> None:
            envelope = record_envelope(
                record, message_id, municipality, sender, ring, operator=operator, batch=batch
            )
            await publish_signed(
                broker, envelope, confirm_within=settings.amqp.publish_timeout_seconds
            )

        batches = []
        with Progress(disable=not sys.stdout.isatty(), transient=True) as bar:
            for path in paths:
                task = bar.add_task(path.name, total=None)
                batch = await folder.process(path, publish, functools.partial(_advance, bar, task))
                counts.rows(counts.At(SystemId.HEALTH_MGMT, municipality), batch.tally)
                batches.append(batch)
        return batches
    finally:
        await broker.stop()


def _advance(bar: Progress, task: TaskID, done: int, total: int) -> None:
    bar.update(task, completed=done, total=total)


@import_app.command("records")
def import_records(
    file: Annotated[Path, typer.Argument(help="CSV batch (UTF-8 or Shift_JIS)", exists=True)],
    municipality: Annotated[str, typer.Option(help="6-digit local-government code")],
    key: Annotated[Path, typer.Option(help="the system's <key_id>.signing.pem")],
    folder: Annotated[
        Path, typer.Option(help="drop-folder root that keeps results/ and done/")
    ] = Path("var/health_mgmt"),
) -> None:
    """Validate a batch, send its good rows, write its result file; exit 1 if rows were bad."""
    try:
        code = str(LocalGovCode(municipality))
    except CodeError as exc:
        raise typer.BadParameter(str(exc), param_hint="--municipality") from None
    settings = _settings()
    signer, drop = _signer(key), _folder(folder, settings, code).prepare()
    staged = drop.inbox / file.name
    if file.resolve() != staged.resolve():
        shutil.copy2(file, staged)  # keeps the mtime, so the message ids stay stable
    (batch,) = asyncio.run(_send(settings, drop, [staged], code, signer))
    typer.echo(
        f"{file.name}: {len(batch.records)} row(s) sent, {batch.bad_lines} rejected "
        f"(encoding {batch.encoding}); result in {folder / 'results' / (file.stem + '.result.csv')}"
    )
    if batch.records:  # the hub holds a manual import for its checks (R01)
        typer.echo(
            f"batch {batch.batch}: a manual import, held at the hub (where its policy lists "
            "it) until two operators have checked it and a 所属長 has signed it off (R01)"
        )
    for error in batch.errors[:20]:
        typer.echo(f"  line {error.line}: {error.field}: {error.reason}")
    if batch.errors:
        raise typer.Exit(1)


@import_app.command("watch")
def import_watch(
    municipality: Annotated[str, typer.Option(help="6-digit local-government code")],
    key: Annotated[Path, typer.Option(help="the system's <key_id>.signing.pem")],
    folder: Annotated[Path, typer.Option(help="drop-folder root (inbox/ is watched)")] = Path(
        "var/health_mgmt"
    ),
    interval: Annotated[float, typer.Option(min=0.1, help="seconds between looks")] = 5.0,
) -> None:
    """Serve the drop folder: every batch dropped in inbox/ is sent and answered in results/."""
    try:
        code = str(LocalGovCode(municipality))
    except CodeError as exc:
        raise typer.BadParameter(str(exc), param_hint="--municipality") from None
    settings = _settings()
    signer, drop = _signer(key), _folder(folder, settings, code).prepare()
    typer.echo(f"watching {drop.inbox} (Ctrl-C stops)")
    try:
        asyncio.run(_watch(settings, drop, code, signer, interval))
    except KeyboardInterrupt:
        typer.echo("stopped")


async def _watch(
    settings: Settings, drop: DropFolder, municipality: str, signer: Signer, interval: float
) -> None:
    while True:
        pending = await asyncio.to_thread(drop.pending)
        for batch in await _send(settings, drop, pending, municipality, signer) if pending else []:
            typer.echo(f"batch: {len(batch.records)} sent, {batch.bad_lines} rejected")
        await asyncio.sleep(interval)
