"""The hub's named SQL queries: `queries.sql` for the pipeline, `desk.sql` for approvals,
staff and the audit trail."""

from __future__ import annotations

from pathlib import Path

from storekit.queries import Queries

__all__ = ["query"]

query = Queries(Path(__file__).parent)
