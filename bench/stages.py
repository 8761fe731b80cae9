"""Where the time goes: the hub's stages from its own timestamps, and latency over time.

The journal's `received_at` and the outbox's `published_at` default to `now()`, the start
of the transaction that wrote them, so for every message of a run the hub's database says
when its batch was journaled and when the transaction publishing it began. With the
driver's publish and delivery times that splits end-to-end latency into

    ingress   publish -> journal transaction: queue wait, batch forming, triage
    outbox    journal transaction -> publishing transaction: the insert, the ack and the
              wait for one of the worker's publishing slots
    deliver   publishing transaction -> delivery: row lock, publish, broker, consumer

and grouping rows by those timestamps gives the journal and publish batch sizes.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from statistics import fmean
from typing import Any

import asyncpg

from bench.measure import percentile

__all__ = ["hub_stages", "timeline"]

_STAGES_SQL = """
SELECT j.message_id::text AS id,
       extract(epoch FROM j.received_at)::float8 AS journaled,
       extract(epoch FROM o.published_at)::float8 AS published
FROM journal AS j JOIN outbox AS o ON o.journal_seq = j.seq
WHERE j.message_id = ANY($1::uuid[])
"""


async def hub_stages(
    database_url: str, sent: Mapping[str, float], received: Mapping[str, float]
) -> dict[str, Any]:
    """p50/p99 of each stage in ms, and the journal and publish batch sizes, for one run."""
    # perf_counter to wall clock, for comparing with PostgreSQL's timestamps (same host).
    offset = time.time() - time.perf_counter()
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(_STAGES_SQL, list(received))
    finally:
        await connection.close()
    stages: dict[str, list[float]] = {"ingress": [], "outbox": [], "deliver": []}
    journal_batches: dict[float, int] = {}
    publish_batches: dict[float, int] = {}
    for row in rows:
        if row["published"] is None:
            continue
        t0, t3 = sent[row["id"]] + offset, received[row["id"]] + offset
        stages["ingress"].append(1000 * (row["journaled"] - t0))
        stages["outbox"].append(1000 * (row["published"] - row["journaled"]))
        stages["deliver"].append(1000 * (t3 - row["published"]))
        journal_batches[row["journaled"]] = journal_batches.get(row["journaled"], 0) + 1
        publish_batches[row["published"]] = publish_batches.get(row["published"], 0) + 1
    result: dict[str, Any] = {}
    for name, values in stages.items():
        values.sort()
        result[f"{name}_p50_ms"] = percentile(values, 50)
        result[f"{name}_p99_ms"] = percentile(values, 99)
    for name, batches in (("journal", journal_batches), ("publish", publish_batches)):
        sizes = sorted(batches.values())
        result[f"{name}_batches"] = len(sizes)
        result[f"{name}_batch_mean"] = fmean(sizes) if sizes else 0.0
        result[f"{name}_batch_max"] = sizes[-1] if sizes else 0
    return result


def timeline(sent: Mapping[str, float], received: Mapping[str, float]) -> list[dict[str, float]]:
    """Per second of publishing: messages, p50 and max latency in ms (stalls show here)."""
    if not received:
        return []
    start = min(sent.values())
    buckets: dict[int, list[float]] = {}
    for message_id, at in received.items():
        t0 = sent[message_id]
        buckets.setdefault(int(t0 - start), []).append(1000 * (at - t0))
    seconds = []
    for second in sorted(buckets):
        values = sorted(buckets[second])
        seconds.append(
            {
                "second": second,
                "messages": len(values),
                "p50_ms": round(percentile(values, 50), 2),
                "max_ms": round(values[-1], 2),
            }
        )
    return seconds
