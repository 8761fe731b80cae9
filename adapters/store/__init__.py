"""The adapters' PostgreSQL stores, in their own databases (one per city, one for the
network), never the hub's: `db.AdapterDb` (pool, migrations, inbox), `systems` (health
management's residents, VRS, the network, the intermediate server's books) and
`intermediate` (the 符号 registry and the 副本). The stack wires them to the systems,
which know only the ports (`adapters/ports.py`)."""
