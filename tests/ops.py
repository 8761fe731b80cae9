"""What the operator console's tests share (trace, re-drive, the console in Chromium):
messages the hub refuses, a sender key the ring does not know yet, and the waits for the
journal and the re-drives."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.codes import SystemId
from contracts.envelope import Envelope, Party, Recipient
from contracts.keys import GeneratedKey, generate_key
from contracts.payloads import ResidentStatusFlag
from contracts.signing import Signer
from tests.harness import CHIKUSEI, Services
from tests.probes import fetchval, wait_for

LATE_KEY_ID = "health_mgmt-082279-late"


def status_flag(services: Services, signer: Signer, **changes: Any) -> Envelope:
    """A signed resident-status flag from Chikusei's health management to its VRS."""
    flag = ResidentStatusFlag(basic_code="4242", flag="moved_out", effective_on="2026-11-02")
    fields: dict[str, Any] = {
        "municipality": CHIKUSEI,
        "sender": Party(system=SystemId.HEALTH_MGMT, instance="ims-1"),
        "recipient": Recipient(system=SystemId.VRS, municipality=CHIKUSEI),
        "procedure": "S19-16",
        "data_items": ("covid.resident_status",),
        "key_id": signer.key_id,
    }
    return signer.sign(services.envelope(flag, **(fields | changes)))


def unroutable(services: Services) -> Envelope:
    """A verified envelope to a city the hub does not serve: refused `unroutable`."""
    signer = services.signer(SystemId.HEALTH_MGMT, CHIKUSEI)
    return status_flag(
        services, signer, recipient=Recipient(system=SystemId.VRS, municipality="131016")
    )


def late_key() -> GeneratedKey:
    """Chikusei health management's new key, which the hub's ring does not hold yet."""
    return generate_key(
        SystemId.HEALTH_MGMT,
        CHIKUSEI,
        key_id=LATE_KEY_ID,
        valid_from=datetime.now(UTC) - timedelta(days=1),
    )


def signed_with(services: Services, key: GeneratedKey) -> Envelope:
    """A valid flag signed with `key` (refused `unknown_key` until the ring has it)."""
    return status_flag(services, Signer(key.entry.key_id, key.signing))


def add_to_ring(services: Services, key: GeneratedKey) -> None:
    """Put the key's entry in the ring the hub rereads (atomically: the hub waits for the
    directory to hold still)."""
    entry = services.ring_dir / f"{key.entry.key_id}.json"
    partial = entry.with_suffix(".tmp")
    partial.write_text(json.dumps(key.entry.model_dump(mode="json")))
    partial.rename(entry)


async def journal_seq(services: Services, reason_code: str, seconds: float = 30) -> int:
    """The seq of the (first) journal row refused with `reason_code`, once there."""

    async def there() -> bool:
        return bool(
            await fetchval(
                services, "SELECT count(*) FROM journal WHERE reason_code = $1", reason_code
            )
        )

    await wait_for(there, seconds, f"a {reason_code} refusal in the journal")
    return int(
        await fetchval(services, "SELECT min(seq) FROM journal WHERE reason_code = $1", reason_code)
    )


async def ring_has(services: Services, key_id: str, seconds: float = 30) -> None:
    """Wait until the hub audited a key ring holding `key_id` (it took effect)."""

    async def audited() -> bool:
        return bool(
            await fetchval(
                services,
                "SELECT count(*) FROM audit_log WHERE action = 'keys.loaded'"
                " AND detail->'keys' ? $1",
                key_id,
            )
        )

    await wait_for(audited, seconds, f"the hub to load a ring with {key_id}")


async def redrive_state(services: Services, redrive_id: int) -> str:
    return str(await fetchval(services, "SELECT state FROM redrives WHERE id = $1", redrive_id))


async def redrive_done(services: Services, redrive_id: int, seconds: float = 30) -> str:
    """The state the hub left a re-drive in, once it took it up."""

    async def done() -> bool:
        return await redrive_state(services, redrive_id) != "pending"

    await wait_for(done, seconds, f"re-drive {redrive_id} to be carried out")
    return await redrive_state(services, redrive_id)
