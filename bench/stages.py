"""Where the time goes: the hub's stages from its own timestamps, and latency over time.

The journal's `received_at` defaults to `now()`, the start of the transaction that wrote
it, so for every message of a run the hub's database says when its batch was journaled.
With the driver's publish and delivery times that splits end-to-end latency into

    ingress   publish -> journal transaction: queue wait, batch forming, triage
    onward    journal transaction -> delivery: insert and commit, ack, the publisher
              loop, publish and confirm, broker, consumer

and grouping rows by that timestamp gives the journal batch sizes. (The outbox's
`published_at` is written in bulk every 50 ms after the confirms, so it says when a row
was marked, not when it went out, and is not used here.)
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
SELECT j.message_id::text AS id, extract(epoch FROM j.received_at)::float8 AS journaled
FROM journal AS j
WHERE j.message_id = ANY($1::uuid[])
"""


async def hub_stages(
    database_url: str, sent: Mapping[str, float], received: Mapping[str, float]
) -> dict[str, Any]:
    """p50/p99 of each stage in ms, and the journal batch sizes, for one run."""
    # perf_counter to wall clock, for comparing with PostgreSQL's timestamps (same host).
    offset = time.time() - time.perf_counter()
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(_STAGES_SQL, list(received))
    finally:
        await connection.close()
    stages: dict[str, list[float]] = {"ingress": [], "onward": []}
    journal_batches: dict[float, int] = {}
    for row in rows:
        t0, t3 = sent[row["id"]] + offset, received[row["id"]] + offset
        stages["ingress"].append(1000 * (row["journaled"] - t0))
        stages["onward"].append(1000 * (t3 - row["journaled"]))
        journal_batches[row["journaled"]] = journal_batches.get(row["journaled"], 0) + 1
    result: dict[str, Any] = {}
    for name, values in stages.items():
        values.sort()
        result[f"{name}_p50_ms"] = percentile(values, 50)
        result[f"{name}_p99_ms"] = percentile(values, 99)
    sizes = sorted(journal_batches.values())
    result["journal_batches"] = len(sizes)
    result["journal_batch_mean"] = fmean(sizes) if sizes else 0.0
    result["journal_batch_max"] = sizes[-1] if sizes else 0
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
