"""Hub versus a plain aio-pika forwarder, in one run: `python -m bench.pipeline` (`make bench`).

Both systems run as their own processes against a fresh vhost and database, every link over
TLS (AMQPS on 5671, PostgreSQL verify-full; `--no-tls` for plaintext, to measure what TLS
costs); this process
publishes signed envelopes with confirms and consumes the destination queues. After an
unmeasured warm-up (--warmup messages each), every mode runs the plain forwarder, then the
hub, over fresh messages:

    saturation   --messages (50,000) published as fast as confirms allow
    500/s        paced for --paced-seconds (20 s): 10,000 messages
    1000/s       paced for --paced-seconds: 20,000 messages

End-to-end latency is publish (just before the publish call) to first delivery to this
process's consumer of the destination queue. Throughput is messages / (last delivery -
first publish). Targets (the pipeline issue): hub throughput >= 0.7 x plain at saturation,
hub p99 < 25 ms at 500/s. Besides the figures it prints the CPU use of each party and the
hub's latency per stage (bench.stages), so that a miss says where the time went. Results
go to stdout and var/bench/pipeline.json (--output).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
from aio_pika.abc import AbstractConnection

from bench.collector import Collector
from bench.forwarder import PLAIN_INGRESS_EXCHANGE, PLAIN_INGRESS_QUEUE, declare_plain, plain_queue
from bench.measure import Publisher, Receiver, cpu_sample, percentile
from bench.services import SENDERS, BenchServices, create_services, drop_services
from bench.stages import hub_stages, timeline
from bench.traffic import KIND, BenchMessage, signed_messages
from contracts.broker import DEAD_QUEUE, INGRESS_EXCHANGE, INGRESS_QUEUE, adapter_queue
from hub.settings import Settings
from stack.processes import Processes

__all__ = ["RunResult", "main"]

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "var" / "bench"
TELEMETRY_OFF = "telemetry off"
TELEMETRY_ON = "telemetry on"
TELEMETRY_FULL = "telemetry full"
TELEMETRY_MODES: tuple[tuple[str, str | None], ...] = (
    (TELEMETRY_OFF, None),
    (TELEMETRY_ON, None),  # the default sample ratio
    (TELEMETRY_FULL, "1.0"),  # every trace kept and exported
)
TELEMETRY_ROUNDS = 2
"""Rounds of saturation runs of the hub in each telemetry mode, after the others."""
TELEMETRY_TARGET = 0.95  # telemetry may cost at most 5% of the hub's throughput
RATIO_TARGET = 0.7
P99_TARGET_MS = 25.0
P99_TARGET_RATE = 500
# The keys the traffic is delivered under; each system has one queue per key.
DESTINATIONS = sorted({f"{recipient.value}.{m}" for _, m, recipient in SENDERS})


@dataclass(frozen=True)
class System:
    """One system under test: where to publish, which queues to drain, which process."""

    name: str
    ingress_exchange: str
    ingress_queue: str
    outputs: tuple[str, ...]
    extra_queues: tuple[str, ...]  # purged before each run, checked after it
    process: subprocess.Popen[bytes]

    def routing_keys(self, messages: Sequence[BenchMessage]) -> list[str]:
        """The hub routes on the envelope; the plain forwarder on the key it was sent with."""
        if self.name == "hub":
            return [KIND] * len(messages)  # what adapters use; the hub's binding takes any
        return [m.destination for m in messages]


@dataclass
class RunResult:
    """The figures of one system in one mode."""

    mode: str
    system: str
    offered_rate: float | None
    messages: int
    received: int
    duplicates: int
    publish_failures: int
    dead_lettered: int
    publish_seconds: float
    seconds: float
    throughput: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    cpu_percent: dict[str, float]
    loadavg_before: tuple[float, float, float]
    loadavg_after: tuple[float, float, float]
    stages: dict[str, Any] = field(default_factory=dict)  # the hub's, see bench.stages
    timeline: list[dict[str, float]] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every message arrived."""
        return self.received == self.messages


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; exit 0 when it completed (whether or not targets were met)."""
    args = _parser().parse_args(argv)
    if args.quick:
        args.messages, args.paced_seconds, args.warmup = 2_000, 3.0, 200
    OUTPUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sesshu-bench-") as tmp:
        services = create_services(Path(tmp) / "ring", tls=args.tls)
        try:
            report = asyncio.run(_bench(services, args))
        finally:
            drop_services(services)
    path: Path = args.output
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"\nresults written to {path}")
    return 0 if all(run["complete"] for run in report["runs"]) else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.pipeline",
        description="Hub versus a plain aio-pika forwarder: throughput and latency.",
    )
    parser.add_argument(
        "--messages", type=int, default=50_000, help="messages in the saturation run"
    )
    parser.add_argument(
        "--paced-seconds", type=float, default=20.0, help="length of each fixed-load run"
    )
    parser.add_argument(
        "--rates",
        type=float,
        nargs="*",
        default=[500.0, 1000.0],
        help="fixed offered loads in messages/s",
    )
    parser.add_argument(
        "--warmup", type=int, default=2_000, help="unmeasured messages per system first"
    )
    parser.add_argument("--window", type=int, default=1_000, help="unconfirmed publishes")
    parser.add_argument(
        "--telemetry-cost",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="end with saturation runs of the hub with telemetry off, on (the default sample "
        f"ratio) and full (every trace kept), in turn, {TELEMETRY_ROUNDS} each, to report what "
        "telemetry (spans exported over OTLP, /metrics) costs",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 2,000 messages, 3 s paced, 200 warm-up"
    )
    parser.add_argument(
        "--tls",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="both systems over AMQPS and the hub's PostgreSQL over TLS (--no-tls: plaintext, "
        "to measure what TLS costs)",
    )
    parser.add_argument(
        "--output", type=Path, default=OUTPUT / "pipeline.json", help="where the JSON goes"
    )
    parser.add_argument(
        "--py-spy",
        type=Path,
        metavar="PATH",
        help="py-spy profile of each hub run, PATH-<mode>: flame graph, or collapsed if .txt",
    )
    return parser


async def _bench(services: BenchServices, args: argparse.Namespace) -> dict[str, Any]:
    prefetch = Settings().amqp.prefetch  # the hub's default; the forwarder gets the same
    driver = await aio_pika.connect(services.amqp_url)
    # Deliveries come on their own connection, so a publisher held by flow control cannot
    # delay them.
    listener = await aio_pika.connect(services.amqp_url)
    processes = Processes(services.hub_env(), OUTPUT)
    collector = Collector().start()
    try:
        setup = await driver.channel()
        await declare_plain(setup, DESTINATIONS)
        plain = System(
            "plain",
            PLAIN_INGRESS_EXCHANGE,
            PLAIN_INGRESS_QUEUE,
            tuple(plain_queue(key) for key in DESTINATIONS),
            (),
            _start_forwarder(services, prefetch, processes),
        )
        hub = System(
            "hub",
            INGRESS_EXCHANGE,
            INGRESS_QUEUE,
            tuple(adapter_queue(*key.split(".")) for key in DESTINATIONS),
            (DEAD_QUEUE,),
            _start_hub(processes, collector),
        )
        systems = (plain, hub)
        for system in systems:
            await _until_consuming(driver, system)
        receiver = Receiver()
        channel = await listener.channel()
        for system in systems:
            for name in system.outputs:
                queue = await channel.declare_queue(name, passive=True)
                await queue.consume(receiver.on_message, no_ack=True)
        confirming = await driver.channel(publisher_confirms=True)
        publishers = {
            s.name: Publisher(await confirming.get_exchange(s.ingress_exchange), args.window)
            for s in systems
        }
        bench = _Bench(services, driver, receiver, publishers)
        print(
            f"prefetch {prefetch}, publish window {args.window}, "
            f"{os.cpu_count()} CPUs, load average {_loadavg()} at start"
        )
        if args.warmup:
            for system in systems:
                warm = await bench.run(system, "warm-up", args.warmup, None)
                if not warm.complete:
                    raise RuntimeError(f"{system.name} stalled during the warm-up")
        runs: list[RunResult] = []
        modes: list[tuple[str, int, float | None]] = [("saturation", args.messages, None)]
        for rate in args.rates:
            modes.append((f"{rate:g}/s", round(rate * args.paced_seconds), rate))
        for mode, count, rate, system in [(*m, s) for m in modes for s in systems]:
            profile = _profile_path(args.py_spy, mode) if system is hub else None
            runs.append(await bench.run(system, mode, count, rate, profile))
            if not runs[-1].complete:
                # Lost messages mean a broken setup, not a slow system: later runs would
                # measure the breakage. Report what was measured and stop.
                code = system.process.poll()
                why = "stalled for 30 s" if code is None else f"exited with {code}"
                print(f"stopping: {system.name} {why} in the {mode} run")
                break
        if args.telemetry_cost and all(run.complete for run in runs):
            runs += await _telemetry_runs(bench, processes, collector, hub, args)
        exits = processes.stop(s.name for s in systems)
        _print_exported(collector, runs, args.warmup)
        return _report(runs, exits, args, prefetch, bench.message_bytes)
    finally:
        collector.stop()
        # Reached with live processes only when something failed: do not leave them behind.
        processes.kill_all()
        await listener.close()
        await driver.close()


@dataclass
class _Bench:
    services: BenchServices
    driver: AbstractConnection
    receiver: Receiver
    publishers: dict[str, Publisher]
    message_bytes: float = 0.0

    async def run(
        self,
        system: System,
        mode: str,
        count: int,
        rate: float | None,
        profile: Path | None = None,
    ) -> RunResult:
        """One measured run: purge, publish, wait for every delivery, settle."""
        await self._purge(system)
        messages = signed_messages(self.services, count)  # fresh ids, sent_at now
        self.message_bytes = sum(len(m.body) for m in messages) / len(messages)
        keys = system.routing_keys(messages)
        publisher = self.publishers[system.name]
        self.receiver.expect(m.message_id for m in messages)
        spy = _start_py_spy(profile, system.process.pid)
        load_before = _loadavg()
        cpu_before = cpu_sample({"system": system.process.pid})
        publish_seconds = await publisher.publish(messages, keys, rate)
        complete = await self.receiver.wait(stall_seconds=30)
        cpu = cpu_sample({"system": system.process.pid}).percent_since(cpu_before)
        load_after = _loadavg()
        _stop_py_spy(spy)
        result = _result(
            system=system,
            mode=mode,
            rate=rate,
            count=count,
            publisher=publisher,
            receiver=self.receiver,
            publish_seconds=publish_seconds,
        )
        result.cpu_percent = cpu
        result.loadavg_before, result.loadavg_after = load_before, load_after
        # After a stall the broker may be gone: nothing to settle, nothing to ask it.
        result.dead_lettered = await self._settle(system) if complete else 0
        result.timeline = timeline(publisher.sent, self.receiver.received)
        if system.name == "hub" and complete:
            result.stages = await hub_stages(
                self.services.database_url, publisher.sent, self.receiver.received
            )
        if mode != "warm-up" or not complete:
            _print_progress(result, complete)
        return result

    async def _purge(self, system: System) -> None:
        channel = await self.driver.channel()
        try:
            for name in (system.ingress_queue, *system.outputs, *system.extra_queues):
                queue = await channel.declare_queue(name, passive=True)
                await queue.purge()
        finally:
            await channel.close()

    async def _settle(self, system: System) -> int:
        """Wait until the hub's outbox is all published (so no relay republish reaches the
        next run), then count what it dead-lettered; the plain forwarder has nothing to do.
        """
        if system.name != "hub":
            return 0
        connection = await asyncpg.connect(self.services.database_url)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                unpublished = await connection.fetchval(
                    "SELECT count(*) FROM outbox WHERE published_at IS NULL"
                )
                if unpublished == 0:
                    break
                await asyncio.sleep(0.2)
        finally:
            await connection.close()
        channel = await self.driver.channel()
        try:
            dead = await channel.declare_queue(DEAD_QUEUE, passive=True)
            return dead.declaration_result.message_count or 0
        finally:
            await channel.close()


def _result(
    *,
    system: System,
    mode: str,
    rate: float | None,
    count: int,
    publisher: Publisher,
    receiver: Receiver,
    publish_seconds: float,
) -> RunResult:
    latencies = sorted(
        1000 * (at - publisher.sent[message_id]) for message_id, at in receiver.received.items()
    )
    first = min(publisher.sent.values())
    seconds = (max(receiver.received.values()) - first) if receiver.received else 0.0
    return RunResult(
        mode=mode,
        system=system.name,
        offered_rate=rate,
        messages=count,
        received=len(receiver.received),
        duplicates=receiver.duplicates,
        publish_failures=publisher.failures,
        dead_lettered=0,
        publish_seconds=publish_seconds,
        seconds=seconds,
        throughput=len(receiver.received) / seconds if seconds else 0.0,
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        max_ms=latencies[-1] if latencies else float("nan"),
        cpu_percent={},
        loadavg_before=(0.0, 0.0, 0.0),
        loadavg_after=(0.0, 0.0, 0.0),
    )


def _start_forwarder(
    services: BenchServices, prefetch: int, processes: Processes
) -> subprocess.Popen[bytes]:
    argv = ["--url", services.amqp_url, "--prefetch", str(prefetch)]
    for key in DESTINATIONS:
        argv += ["--destination", key]
    return processes.module("plain", "bench.forwarder", argv)


async def _telemetry_runs(
    bench: _Bench,
    processes: Processes,
    collector: Collector,
    hub: System,
    args: argparse.Namespace,
) -> list[RunResult]:
    """The same hub off, on (the default sampling) and full (every trace kept), in turn,
    TELEMETRY_ROUNDS times, each a saturation run from a fresh start, after the runs above:
    the first saturation runs after the warm-up are slower for both systems, and what
    drifts run to run (a journal that grows) falls on every mode alike."""
    runs = []
    for round_ in range(1, TELEMETRY_ROUNDS + 1):
        for label, ratio in TELEMETRY_MODES:
            processes.stop(["hub"])
            process = _start_hub(
                processes, collector, telemetry=label != TELEMETRY_OFF, ratio=ratio
            )
            restarted = replace(hub, process=process)
            await _until_consuming(bench.driver, restarted)
            mode = f"{label} {round_}"
            profile = _profile_path(args.py_spy, mode)
            runs.append(await bench.run(restarted, mode, args.messages, None, profile))
    return runs


def _telemetry_ratio(runs: list[RunResult], label: str) -> float | None:
    """Mean throughput of the hub's runs in a telemetry mode over that of its runs with
    telemetry off; None unless every one of them completed."""
    off = [r for r in runs if r.mode.startswith(TELEMETRY_OFF)]
    on = [r for r in runs if r.mode.startswith(label)]
    if not on or len(on) != len(off) or not all(r.complete for r in on + off):
        return None
    return statistics.fmean(r.throughput for r in on) / statistics.fmean(r.throughput for r in off)


def _print_exported(collector: Collector, runs: list[RunResult], warmup: int) -> None:
    exported = collector.received  # complete: each hub flushed its last spans as it stopped
    traced = warmup + sum(
        r.messages for r in runs if r.system == "hub" and not r.mode.startswith(TELEMETRY_OFF)
    )
    print(
        f"spans the hub exported over OTLP/HTTP: {exported.spans:,} in {exported.requests:,} "
        f"requests ({exported.bytes / 1e6:.1f} MB), for {traced:,} messages traced"
    )


def _start_hub(
    processes: Processes,
    collector: Collector,
    *,
    telemetry: bool = True,
    ratio: str | None = None,
) -> subprocess.Popen[bytes]:
    # One worker process runs in the `hub` process itself, so its pid is the one to measure.
    # Telemetry on: a span for every message, exported over OTLP/HTTP to the local
    # collector, and /metrics served (on a free port); off: no spans, no server (the
    # counters still count, as they always do).
    env = (
        {
            "SESSHU_TELEMETRY__TRACING": "true",
            "SESSHU_TELEMETRY__METRICS_PORT": "0",
            "SESSHU_TELEMETRY__OTLP_ENDPOINT": collector.endpoint,
        }
        if telemetry
        else {"SESSHU_TELEMETRY__TRACING": "false"}
    )
    if ratio is not None:
        env["SESSHU_TELEMETRY__SAMPLE_RATIO"] = ratio
    return processes.sesshu("hub", ["hub", "--workers", "1"], **env)


async def _until_consuming(connection: AbstractConnection, system: System) -> None:
    """Wait until the system consumes its ingress queue: declared is not yet listening."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if system.process.poll() is not None:
            raise RuntimeError(f"{system.name} exited with {system.process.returncode}")
        channel = await connection.channel()
        try:
            queue = await channel.declare_queue(system.ingress_queue, passive=True)
            if queue.declaration_result.consumer_count:
                return
        except aio_pika.exceptions.ChannelClosed:
            pass  # not declared yet; a failed passive declare closes the channel
        finally:
            if not channel.is_closed:
                await channel.close()
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{system.name} did not start consuming within 60 s")


def _profile_path(path: Path | None, mode: str) -> Path | None:
    if path is None:
        return None
    return path.with_name(f"{path.stem}-{mode.replace('/', '')}{path.suffix}")


def _start_py_spy(svg: Path | None, pid: int) -> subprocess.Popen[bytes] | None:
    if svg is None:
        return None
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    # A .txt path gets collapsed stacks (one line per stack with its sample count), which
    # can be summed with a script; anything else gets the flame graph.
    form = "raw" if svg.suffix == ".txt" else "flamegraph"
    # --nonblocking: sample without pausing the hub, so the profile costs it little.
    return subprocess.Popen(  # noqa: S603 - a profiler the operator asked for
        [exe, "record", "--nonblocking", "-f", form, "-o", str(svg), "--pid", str(pid)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stop_py_spy(spy: subprocess.Popen[bytes] | None) -> None:
    if spy is None:
        return
    spy.send_signal(signal.SIGINT)  # py-spy writes the flame graph on SIGINT
    with contextlib.suppress(subprocess.TimeoutExpired):
        spy.wait(timeout=60)


def _loadavg() -> tuple[float, float, float]:
    return os.getloadavg()


def _print_progress(result: RunResult, complete: bool) -> None:
    missing = "" if complete else f"  INCOMPLETE: {result.received}/{result.messages}"
    print(
        f"  {result.mode:>10} {result.system:<5} {result.messages:>6} msgs "
        f"{result.throughput:>8.0f} msg/s  p50 {result.p50_ms:7.1f} ms  "
        f"p99 {result.p99_ms:7.1f} ms{missing}",
        flush=True,
    )


def _report(
    runs: list[RunResult],
    exits: dict[str, int],
    args: argparse.Namespace,
    prefetch: int,
    message_bytes: float,
) -> dict[str, Any]:
    by_key = {(r.mode, r.system): r for r in runs}
    plain, hub = by_key.get(("saturation", "plain")), by_key.get(("saturation", "hub"))
    # A ratio of an incomplete run would compare a breakage, not two systems.
    measured = hub and plain and hub.complete and plain.complete and plain.throughput
    ratio = hub.throughput / plain.throughput if hub and plain and measured else None
    paced = by_key.get((f"{P99_TARGET_RATE:g}/s", "hub"))
    p99_ok = paced is not None and paced.complete and paced.p99_ms < P99_TARGET_MS
    ratio_ok = ratio is not None and ratio >= RATIO_TARGET
    telemetry = _telemetry_ratio(runs, TELEMETRY_ON)
    full = _telemetry_ratio(runs, TELEMETRY_FULL)
    _print_tables(runs, message_bytes)
    print()
    if ratio is None:
        print("hub / plain throughput at saturation: not measured (a run is missing or broke)")
    else:
        print(
            f"hub / plain throughput at saturation: {ratio:.2f}  "
            f"(target >= {RATIO_TARGET}: {'met' if ratio_ok else 'NOT met'})"
        )
    if telemetry is not None:
        met = "met" if telemetry >= TELEMETRY_TARGET else "NOT met"
        print(
            f"hub telemetry on / off throughput at saturation: {telemetry:.2f}  "
            f"(target >= {TELEMETRY_TARGET}: {met}; the default sample ratio; "
            f"the mean of {TELEMETRY_ROUNDS} runs each, in turn)"
        )
    if full is not None:
        print(f"hub telemetry full / off throughput at saturation: {full:.2f}  (every trace kept)")
    if paced is not None:
        print(
            f"hub p99 at {P99_TARGET_RATE}/s: {paced.p99_ms:.1f} ms  "
            f"(target < {P99_TARGET_MS:g} ms: {'met' if p99_ok else 'NOT met'})"
        )
    odd = [r for r in runs if not r.complete or r.duplicates or r.dead_lettered]
    busy = [r for r in runs if r.cpu_percent.get("other", 0) > 20]
    if busy:
        worst = max(r.cpu_percent["other"] for r in busy)
        print(
            f"note: other processes used up to {worst:.0f}% of a core during {len(busy)} "
            "run(s) (column `other`): those figures are skewed by the competition"
        )
    for r in odd:
        print(
            f"note: {r.mode} {r.system}: {r.received}/{r.messages} received, "
            f"{r.duplicates} duplicates, {r.dead_lettered} dead-lettered, "
            f"{r.publish_failures} publish failures"
        )
    if any(code != 0 for code in exits.values()):
        print(f"note: exit codes {exits}")
    return {
        "started_at": datetime.now(UTC).isoformat(),
        "cpus": os.cpu_count(),
        "config": {
            "messages": args.messages,
            "paced_seconds": args.paced_seconds,
            "rates": args.rates,
            "warmup": args.warmup,
            "window": args.window,
            "prefetch": prefetch,
            "tls": args.tls,
            "message_bytes": round(message_bytes),
        },
        "runs": [asdict(r) | {"complete": r.complete} for r in runs if r.mode != "warm-up"],
        "ratio": ratio,
        "telemetry_ratio": telemetry,
        "telemetry_full_ratio": full,
        "targets": {
            "ratio": {"target": RATIO_TARGET, "value": ratio, "met": ratio_ok},
            "p99_ms_at_500": {
                "target": P99_TARGET_MS,
                "value": paced.p99_ms if paced else None,
                "met": p99_ok,
            },
        },
        "exit_codes": exits,
    }


def _print_tables(runs: list[RunResult], message_bytes: float) -> None:
    measured = [r for r in runs if r.mode != "warm-up"]
    print(f"\nmessages: signed VaccinationRecord envelopes, {message_bytes:.0f} B on average")
    header = (
        f"{'mode':<10} {'system':<6} {'msgs':>6} {'msg/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8}   {'cpu% system':>11} {'rabbitmq':>8} {'postgres':>8} "
        f"{'driver':>6} {'other':>5} {'machine':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in measured:
        cpu = r.cpu_percent
        print(
            f"{r.mode:<10} {r.system:<6} {r.messages:>6} {r.throughput:>8.0f} "
            f"{r.p50_ms:>8.1f} {r.p99_ms:>8.1f} {r.max_ms:>8.1f}   "
            f"{cpu.get('system', 0):>11.0f} {cpu.get('rabbitmq', 0):>8.0f} "
            f"{cpu.get('postgres', 0):>8.0f} {cpu.get('driver', 0):>6.0f} "
            f"{cpu.get('other', 0):>5.0f} {cpu.get('machine', 0):>7.0f}"
        )
    print(
        "cpu%: of one core, from first publish to last delivery; `system` is the forwarder or\n"
        "hub process, `other` everything else on the machine; `machine` is of all cores.\n"
        "rabbitmq and postgres count the whole servers, other vhosts and databases included."
    )
    staged = [r for r in measured if r.stages]
    if staged:
        print(
            f"\n{'hub stages':<17} {'ingress p50/p99':>16} {'onward p50/p99':>16}   "
            f"{'journal batch':>13}"
        )
        for r in staged:
            st = r.stages
            cells = [
                f"{st[f'{name}_p50_ms']:.1f} / {st[f'{name}_p99_ms']:.1f}"
                for name in ("ingress", "onward")
            ]
            print(f"{r.mode:<17} {cells[0]:>16} {cells[1]:>16}   {st['journal_batch_mean']:>13.1f}")
        print(
            "ms from publish to the journal transaction, and from it to delivery;\n"
            "journal batch: mean messages per journal insert."
        )


if __name__ == "__main__":
    raise SystemExit(main())
