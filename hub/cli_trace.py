"""`sesshu trace ID`: a message's journey from the hub's journal and audit trail alone (no
tracing backend), as a timeline on the terminal or, with --json, as JSON
(hub/journey.py). Runs with the hub's DSN (or any role that reads the hub's tables); it
changes nothing and shows metadata only, never a payload."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated

import typer

from hub.cli_common import fail, settings_or_exit
from hub.errors import DatabaseUnavailable, SchemaNotCurrent
from hub.journey import Hop, Journey, JourneyKey, journey_key
from hub.settings import Settings
from hub.store.journey import JourneyReads
from hub.store.postgres import MIGRATIONS_DIR
from storekit.migrate import migrated_pool

__all__ = ["render", "trace"]

IdArgument = Annotated[
    str,
    typer.Argument(metavar="ID", help="a message or correlation id, or #SEQ for a journal row"),
]


def trace(
    identifier: IdArgument,
    as_json: Annotated[bool, typer.Option("--json", help="print the journey as JSON")] = False,
) -> None:
    """The journey of a message and of every message sharing its correlation id: each hop
    with its decision, hold, approval, re-drive, publication and 情報提供等記録."""
    try:
        key = journey_key(identifier)
    except ValueError as exc:
        fail(f"ID: {exc}")
    settings = settings_or_exit()
    try:
        journey = asyncio.run(_journey(settings, key))
    except (DatabaseUnavailable, SchemaNotCurrent) as exc:
        fail(str(exc))
    if journey is None:
        typer.echo(
            f"error: no journal row for {key.text} (no message, correlation or seq)", err=True
        )
        raise typer.Exit(1)
    if as_json:
        typer.echo(json.dumps(journey.as_json(), ensure_ascii=False, indent=2))
        return
    for line in render(journey):
        typer.echo(line)


async def _journey(settings: Settings, key: JourneyKey) -> Journey | None:
    pool = await migrated_pool(
        settings.database.url.get_secret_value(),
        MIGRATIONS_DIR,
        size=1,
        command_timeout=settings.database.command_timeout_seconds,
    )
    try:
        return await JourneyReads(pool).journey(key)
    finally:
        await pool.close()


def _time(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}"[:-3]


def render(journey: Journey) -> Iterator[str]:
    """The journey as a terminal reads it: a header, the timeline (UTC), each message's
    facts, and the 情報提供等記録."""
    correlations = ", ".join(journey.correlation_ids) or "none"
    count = len(journey.hops)
    yield f"journey of {journey.key.text}: {count} message(s), correlation {correlations}"
    yield ""
    yield "timeline (UTC)"
    for event in journey.timeline():
        seq = f"#{event.seq}" if event.seq is not None else ""
        yield f"  {_time(event.at)}  {seq:>7}  {event.what:<9} {event.text}"
    yield ""
    yield "messages"
    for hop in journey.hops:
        yield from _hop_lines(hop)
    if journey.records:
        yield ""
        yield "情報提供等記録 (provision records)"
        for r in journey.records:
            yield (
                f"  #{r.journal_seq} {r.message_id} {r.direction} {r.procedure} "
                f"{','.join(r.data_items)}: {r.inquirer} asks {r.provider}, "
                f"requested {_time(r.requested_at)}, provided {_time(r.provided_at)}, {r.state}"
                + (", not disclosed" if r.nondisclosure else "")
            )


def _hop_lines(hop: Hop) -> Iterator[str]:
    yield f"  #{hop.seq} {hop.label}  {hop.kind or '?'}  {hop.sender} → {hop.recipient}"
    decision = hop.decision if hop.reason_code is None else f"{hop.decision} ({hop.reason_code})"
    yield f"      decision  {decision}" + (f": {hop.reason}" if hop.reason else "")
    yield (
        f"      received  {_time(hop.received_at)}, sent {_time(hop.sent_at)}, "
        f"procedure {hop.procedure or '-'} {','.join(hop.data_items) or ''}".rstrip()
    )
    yield f"      policy    {hop.policy_version}  trace {hop.trace_id or '-'}"
    if hop.held is not None:
        held = hop.held
        decided = f"by {held.decided_by or 'the hub'} at {_time(held.decided_at)}"
        yield (
            f"      held      {held.state} for {held.department}, expires "
            f"{_time(held.expires_at)}" + (f", decided {decided}" if held.decided_at else "")
        )
    for publish in hop.publishes:
        yield (
            f"      outbox    {publish.exchange} {publish.routing_key}: queued "
            f"{_time(publish.queued_at)}, published {_time(publish.published_at)}"
        )
    if hop.pruned:
        yield "      bytes     removed after their retention period (metadata kept)"
