"""What sealing costs an adapter per message: `python -m bench.sealing [--messages N]`.

Sealing moves the cost of keeping personal data unreadable to the adapters, not the hub
(the hub verifies and routes the same bytes either way). For the bulk message of the
system, a VaccinationRecord, this measures in one process, on the same payloads:

    sender    build and sign an envelope       the baseline: the payload as it is
              seal, declare, build and sign    what every adapter does now
    recipient verify the delivery              the baseline (what it did before)
              verify, open, check the          what every adapter does now
              declaration

and prints microseconds per message for each and the added cost of sealing and opening,
also written to var/bench/sealing.json. The hub's own cost is `make bench`'s.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any

from adapters.kit.sealed import delivered
from contracts.codes import SystemId
from contracts.envelope import (
    SCHEMA_VERSION,
    Declaration,
    Envelope,
    Party,
    Recipient,
    new_message_id,
)
from contracts.examples import example_payload
from contracts.keys import KeyRing, generate_key
from contracts.payloads import VaccinationRecord
from contracts.sealing import addressed_envelope, sealing_secret
from contracts.signing import Freshness, Signer, parse_and_verify

__all__ = ["main", "measure"]

OUT = Path("var/bench/sealing.json")
CITY = "082279"


def measure(messages: int, rounds: int = 5) -> dict[str, Any]:
    """Per-message microseconds of each step (median of `rounds`), and the added cost."""
    start = datetime.now(UTC) - timedelta(days=1)
    sender = generate_key(SystemId.HEALTH_MGMT, CITY, key_id="ims-bench", valid_from=start)
    recipient = generate_key(SystemId.INTERMEDIATE, CITY, key_id="is-bench", valid_from=start)
    ring = KeyRing([sender.entry, recipient.entry])
    signer = Signer(sender.entry.key_id, sender.signing)
    secret = sealing_secret(signer)
    template = example_payload("vaccination_record").model_dump()
    payloads = [
        VaccinationRecord.model_validate(template | {"basic_code": str(1_000_000_000 + n)})
        for n in range(messages)
    ]
    fields: dict[str, Any] = {
        "municipality": CITY,
        "sender": Party(system=SystemId.HEALTH_MGMT, instance="ims-1"),
        "recipient": Recipient(system=SystemId.INTERMEDIATE, municipality=CITY),
        "procedure": "B1-10",
        "data_items": ("vaccination.record",),
        "key_id": signer.key_id,
    }

    def plain(payload: VaccinationRecord) -> bytes:
        # The envelope as it was before every personal kind travelled sealed: the same
        # members, the payload in plaintext (built without the rule that now refuses it).
        envelope = Envelope.model_construct(**_plain_fields(payload, fields), signature=None)
        return signer.sign(envelope).to_bytes()

    def sealed(payload: VaccinationRecord) -> bytes:
        envelope = addressed_envelope(ring, payload=payload, secret=secret, **fields)
        return signer.sign(envelope).to_bytes()

    plain_bodies = [plain(p) for p in payloads]
    sealed_bodies = [sealed(p) for p in payloads]
    now, fresh = datetime.now(UTC), Freshness()

    def verify(body: bytes) -> object:
        return parse_and_verify(body, ring, now=now, freshness=fresh)

    def verify_and_open(body: bytes) -> object:
        envelope, _ = parse_and_verify(body, ring, now=now, freshness=fresh)
        return delivered(envelope, _keys(recipient.entry.key_id, recipient.sealing))

    # The hub refuses a plaintext record now, so the recipient's baseline is verifying
    # the sealed bytes it gets; opening and checking the declaration is what sealing adds.
    steps: dict[str, tuple[Callable[[Any], object], list[Any]]] = {
        "send_plain_us": (plain, payloads),
        "send_sealed_us": (sealed, payloads),
        "receive_verify_us": (verify, sealed_bodies),
        "receive_open_us": (verify_and_open, sealed_bodies),
    }
    result: dict[str, Any] = {"messages": messages, "rounds": rounds}
    for name, (step, inputs) in steps.items():
        result[name] = round(median(_per_message(step, inputs) for _ in range(rounds)), 1)
    result["seal_added_us"] = round(result["send_sealed_us"] - result["send_plain_us"], 1)
    result["open_added_us"] = round(result["receive_open_us"] - result["receive_verify_us"], 1)
    result["plain_bytes"] = round(sum(map(len, plain_bodies)) / messages)
    result["sealed_bytes"] = round(sum(map(len, sealed_bodies)) / messages)
    return result


def _plain_fields(payload: VaccinationRecord, fields: dict[str, Any]) -> dict[str, Any]:
    message_id = new_message_id()
    return fields | {
        "id": message_id,
        "kind": payload.kind,
        "schema_version": SCHEMA_VERSION,
        "payload": payload,
        "declared": Declaration.of(payload),
        "review": None,
        "correlation_id": message_id,
        "causation_id": None,
        "sent_at": datetime.now(UTC),
        "traceparent": None,
    }


def _keys(key_id: str, private: Any) -> Callable[[str], Any]:
    def lookup(asked: str) -> Any:
        if asked != key_id:
            raise KeyError(asked)
        return private

    return lookup


def _per_message(step: Callable[[Any], object], inputs: list[Any]) -> float:
    began = time.perf_counter()
    for item in inputs:
        step(item)
    return 1e6 * (time.perf_counter() - began) / len(inputs)


def main() -> None:
    """Measure and print; write var/bench/sealing.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args()
    result = measure(args.messages)
    for name, value in result.items():
        print(f"{name:<20} {value}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
