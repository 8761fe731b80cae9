"""The adapters' named SQL queries: `inbox.sql` (every adapter's dedupe), `systems.sql`
(health management, VRS, the network, the intermediate server's books) and
`intermediate.sql` (the 符号 registry and the 副本)."""

from __future__ import annotations

from pathlib import Path

from storekit.queries import Queries

__all__ = ["MIGRATIONS_DIR", "query"]

query = Queries(Path(__file__).parent)
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
