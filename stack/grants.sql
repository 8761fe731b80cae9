-- Who may do what in a place's databases (stack/roles.py). Each text is a template: the
-- `{...}` are quoted identifiers (or, `{consumers}`, an SQL condition) filled in by
-- roles.py. Each runs in one transaction and is safe to run again: after every set of
-- migrations the grants are applied anew, revoked first so that what they say is exactly
-- what each role has. No run-time role owns a table, so none can ALTER, DROP or switch a
-- trigger off, and none has UPDATE, DELETE or TRUNCATE on the audit trail.

-- name: database_access
-- As the superuser, in the database: nobody but the roles named may connect, the admin
-- owns the public schema (a schema's owner may drop every table in it, so never a run-time
-- role), and the database is the owner's (the hub's for the hub's database).
ALTER DATABASE {database} OWNER TO {owner};
REVOKE ALL ON DATABASE {database} FROM PUBLIC;
GRANT CONNECT, CREATE, TEMPORARY ON DATABASE {database} TO {admin};
GRANT CONNECT ON DATABASE {database} TO {users};
ALTER SCHEMA public OWNER TO {admin};
REVOKE ALL ON SCHEMA public FROM PUBLIC;

-- name: hub_reset
-- As the admin, in the hub's database: what the hub and the desk may read.
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {users};
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {users};
GRANT USAGE ON SCHEMA public TO {users};
GRANT SELECT ON ALL TABLES IN SCHEMA public TO {users};
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {users};

-- name: hub_worker
-- The worker journals, queues and publishes, holds, records provisions; its housekeeping
-- expires held messages, prunes payload bytes and 情報提供等記録 (R47), appends to the
-- audit trail and signs its checkpoints.
GRANT INSERT, UPDATE ON journal, outbox, held_messages, provision_records TO {hub};
GRANT DELETE ON provision_records TO {hub};
GRANT INSERT ON audit_log, audit_checkpoints TO {hub};
-- It takes up the re-drives the desk queued and records what came of them.
GRANT UPDATE ON redrives TO {hub};
-- The desk's accounts are not the worker's to read (password hashes, session tokens, the
-- names in the contractors' roster).
REVOKE SELECT ON staff, sessions, contractor_roster FROM {hub};

-- name: hub_desk
-- The desk decides held messages and releases them (an outbox row), journals its own
-- messages (attestations: journal, outbox and, by the same statement, held and records),
-- keeps accounts and sessions, and appends to the audit trail.
GRANT INSERT ON journal, outbox, held_messages, provision_records TO {desk};
GRANT UPDATE ON held_messages, provision_records TO {desk};
GRANT INSERT, UPDATE ON staff, sessions TO {desk};
GRANT INSERT ON contractor_roster TO {desk};
-- An operator's check of a manual import (R01).
GRANT INSERT ON import_checks TO {desk};
GRANT INSERT ON audit_log, audit_checkpoints TO {desk};
-- An operator's re-drive is a request the hub carries out (hub/redrive.py).
GRANT INSERT ON redrives TO {desk};

-- name: adapters_reset
-- As the admin, in a city's (or the network's) database: every system may use the shared
-- inbox, each seeing and writing only its own consumer's rows (adapters_system's policies).
REVOKE ALL ON ALL TABLES IN SCHEMA public, ims, intermediate, vrs, nws, kiosk FROM {users};
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public, ims, intermediate, vrs, nws, kiosk FROM {users};
REVOKE ALL ON SCHEMA ims, intermediate, vrs, nws, kiosk FROM PUBLIC, {users};
GRANT USAGE ON SCHEMA public TO {users};
GRANT SELECT ON schema_migrations TO {users};
GRANT SELECT, INSERT ON adapter_inbox, adapter_effects TO {users};
GRANT USAGE ON SEQUENCE adapter_effects_seq_seq TO {users};
ALTER TABLE adapter_inbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE adapter_effects ENABLE ROW LEVEL SECURITY;

-- name: adapters_system
-- One system's own rows of the inbox.
DROP POLICY IF EXISTS {role} ON adapter_inbox;
CREATE POLICY {role} ON adapter_inbox TO {role} USING ({consumers}) WITH CHECK ({consumers});
DROP POLICY IF EXISTS {role} ON adapter_effects;
CREATE POLICY {role} ON adapter_effects TO {role} USING ({consumers}) WITH CHECK ({consumers});

-- name: adapters_schema
-- A system's own schema: everything in it, nothing else's.
GRANT USAGE ON SCHEMA {schema} TO {role};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role};
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role};

-- name: adapters_retention
-- A system that prunes (health management, the intermediate server) records its counts;
-- the log is append-only, and read by the operator, not by the systems.
GRANT INSERT ON retention_log TO {role};
GRANT USAGE ON SEQUENCE retention_log_seq_seq TO {role};
