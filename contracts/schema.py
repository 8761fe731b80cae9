"""The JSON Schema files under contracts/schema/, generated from the models.

`python -m contracts.schema` (or `make schema`) writes them; `tests/unit/test_schema.py`
fails when the files differ from what the models say, so they never fall behind.

- `envelope.json`: the whole envelope, every payload kind in its `$defs`;
- `payloads/<kind>.json`: one payload kind (and `sealed`), for a sender of just that kind;
- `key-ring-entry.json`: one `<key_id>.json` file of a key ring.

JSON Schema checks the forms; what it cannot say (check digits, canonical bytes, the
signature, the rules between members) is in contracts/README.md. Members that hold a name,
an address or a birth date, or a My Number, carry `"x-pii": true`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from contracts.envelope import Envelope
from contracts.keys import KeyEntry
from contracts.payloads import PAYLOAD_MODELS, ReviewCopy, SealedPayload

__all__ = ["SCHEMA_DIR", "schema_files", "write_schemas"]

SCHEMA_DIR = Path(__file__).parent / "schema"
_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def schema_files() -> dict[str, str]:
    """{path relative to SCHEMA_DIR: file text} for every schema file."""
    files = {
        "envelope.json": _text(Envelope, "envelope"),
        "key-ring-entry.json": _text(KeyEntry, "key-ring-entry"),
        # The plaintext of an envelope's `review` (sealed to the desk, R37).
        "review-copy.json": _text(ReviewCopy, "review-copy"),
    }
    models: list[type[BaseModel]] = [*PAYLOAD_MODELS, SealedPayload]
    for model in models:
        kind = str(model.model_fields["kind"].default)
        files[f"payloads/{kind}.json"] = _text(model, f"payloads/{kind}")
    return files


def _text(model: type[BaseModel], name: str) -> str:
    schema: dict[str, Any] = {
        "$schema": _DIALECT,
        "$id": f"https://sesshu-hub.example.jp/contracts/schema/{name}.json",
        **model.model_json_schema(),
    }
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write every schema file under `directory`, removing files no model makes any more."""
    files = schema_files()
    wanted = {directory / name for name in files}
    for stale in directory.rglob("*.json"):
        if stale not in wanted:
            stale.unlink()
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return sorted(wanted)


if __name__ == "__main__":
    written = write_schemas(Path(sys.argv[1]) if len(sys.argv) > 1 else SCHEMA_DIR)
    print(f"wrote {len(written)} schema files")
