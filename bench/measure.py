"""The benchmark driver's two ends and its arithmetic: a confirming publisher that stamps
each message id with its publish time, a receiver that stamps the first delivery of each id
from the destination queues, percentiles, and CPU accounting from /proc.

Publisher and receiver share one process and one clock (`time.perf_counter`), so latency
needs no header: the hub republishes only its own headers, but it keeps the message id.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aio_pika
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage

from bench.traffic import BenchMessage

__all__ = [
    "CpuSample",
    "Publisher",
    "Receiver",
    "cpu_sample",
    "percentile",
]


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values (p in 0..100); NaN when empty."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class Receiver:
    """Records when each expected message id is first delivered; counts the rest."""

    received: dict[str, float] = field(default_factory=dict)
    duplicates: int = 0
    stray: int = 0
    _expected: frozenset[str] = frozenset()
    _complete: asyncio.Event = field(default_factory=asyncio.Event)

    def expect(self, message_ids: Iterable[str]) -> None:
        """Start a run: forget the last one, wait for exactly these ids."""
        self._expected = frozenset(message_ids)
        self.received = {}
        self.duplicates = self.stray = 0
        self._complete.clear()

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        """aio-pika consumer callback (no_ack): stamp first, then bookkeeping."""
        now = time.perf_counter()
        message_id = message.message_id
        if message_id is None or message_id not in self._expected:
            # Late copies from an earlier run (a relay republish) land here, not in the figures.
            self.stray += 1
        elif message_id in self.received:
            self.duplicates += 1
        else:
            self.received[message_id] = now
            if len(self.received) == len(self._expected):
                self._complete.set()

    async def wait(self, stall_seconds: float) -> bool:
        """True once every expected id arrived; False after `stall_seconds` without one.

        Waiting for progress rather than for a fixed time lets a slow system finish and
        gives up quickly on a broken one (a broker restarted under the run, a dead process).
        """
        last, idle = len(self.received), 0.0
        while not self._complete.is_set():
            try:
                async with asyncio.timeout(1.0):
                    await self._complete.wait()
            except TimeoutError:
                idle = 0.0 if len(self.received) != last else idle + 1.0
                last = len(self.received)
                if idle >= stall_seconds:
                    return False
        return True


@dataclass
class Publisher:
    """Publishes with confirms, at most `window` unconfirmed, optionally paced."""

    exchange: AbstractExchange
    window: int
    sent: dict[str, float] = field(default_factory=dict)
    failures: int = 0

    async def publish(
        self,
        messages: Sequence[BenchMessage],
        routing_keys: Sequence[str],
        rate: float | None,
    ) -> float:
        """Publish every message (at `rate` per second, or as fast as confirms allow).

        Returns when all are confirmed; the publish time of each id is in `sent`. With a
        rate, message i is due at start + i / rate: a late loop catches up rather than
        drifting, so the offered load stays the one asked for.
        """
        self.sent = {}
        self.failures = 0
        slots = asyncio.Semaphore(self.window)
        pending: set[asyncio.Task[None]] = set()
        start = time.perf_counter()
        for index, (message, key) in enumerate(zip(messages, routing_keys, strict=True)):
            if rate is not None:
                delay = start + index / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            await slots.acquire()
            self.sent[message.message_id] = time.perf_counter()
            task = asyncio.create_task(self._one(message, key))
            pending.add(task)
            task.add_done_callback(pending.discard)
            task.add_done_callback(lambda _: slots.release())
        if pending:
            await asyncio.wait(pending)
        return time.perf_counter() - start

    async def _one(self, message: BenchMessage, key: str) -> None:
        outgoing = aio_pika.Message(
            message.body,
            message_id=message.message_id,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        try:
            await self.exchange.publish(outgoing, routing_key=key, timeout=30)
        except Exception:  # counted and reported: that id will not arrive
            self.failures += 1


_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds used so far, per process group, and the machine's busy and total time."""

    at: float
    groups: dict[str, float]
    machine_busy: float
    machine_total: float

    def percent_since(self, earlier: CpuSample) -> dict[str, float]:
        """Each group's CPU use between the samples in % of one core; `machine` in % of all."""
        wall = self.at - earlier.at
        shares = {
            name: 100 * (seconds - earlier.groups.get(name, 0.0)) / wall
            for name, seconds in self.groups.items()
        }
        total = self.machine_total - earlier.machine_total
        busy = self.machine_busy - earlier.machine_busy
        shares["machine"] = 100 * busy / total if total > 0 else math.nan
        # What else ran meanwhile, in % of one core: anything here competed with the run.
        cores = os.cpu_count() or 1
        ours = sum(shares[name] for name in self.groups)
        shares["other"] = max(0.0, shares["machine"] * cores - ours)
        return shares


def cpu_sample(pids: dict[str, int]) -> CpuSample:
    """Sample CPU time of the given processes, of RabbitMQ and PostgreSQL, and the machine.

    RabbitMQ and PostgreSQL are found by process name: every PostgreSQL backend counts,
    including those of anything else running on the machine at the time.
    """
    groups = {name: _process_seconds(pid) for name, pid in pids.items()}
    times = os.times()
    groups["driver"] = times.user + times.system
    groups["rabbitmq"] = groups["postgres"] = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended between the listing and the read
            continue
        comm = text[text.index("(") + 1 : text.rindex(")")]
        group = {"beam.smp": "rabbitmq", "postgres": "postgres"}.get(comm)
        if group is not None:
            groups[group] += _stat_seconds(text)
    busy, total = _machine_ticks()
    return CpuSample(time.perf_counter(), groups, busy / _TICK, total / _TICK)


def _process_seconds(pid: int) -> float:
    try:
        return _stat_seconds(Path(f"/proc/{pid}/stat").read_text())
    except OSError:
        return 0.0


def _stat_seconds(text: str) -> float:
    # utime and stime are fields 14 and 15; the command name before them may hold spaces.
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _machine_ticks() -> tuple[int, int]:
    with Path("/proc/stat").open() as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    return total - idle, total
