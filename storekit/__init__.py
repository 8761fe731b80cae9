"""What the hub's store and the adapters' stores share: PostgreSQL through asyncpg.

- `queries.Queries`: named SQL from the `*.sql` files of a folder (`-- name: <name>`).
- `migrate`: numbered, forward-only migrations from a folder, each in a transaction.
- `translate`: which asyncpg failures are an outage (`hub.errors.DatabaseUnavailable`,
  retried) and which a broken rule of the data (`hub.errors.Conflict`), never quoting a value.
- `databases`: create a database if it is missing, or drop one with its family (a stack's,
  a test's or a benchmark's own).

Only this kit, `hub/store/` and `adapters/store/` import asyncpg.
"""
