"""The hub's PostgreSQL storage (journal, outbox, desk, audit trail) and its in-memory
twin; what it shares with the adapters' stores is in `storekit`."""
