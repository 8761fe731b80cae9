-- The adapters keep their inbox and their systems' state in their own databases
-- (adapters/store/migrations); the hub's copies of those tables were never used by the
-- running system since, and the hub's database holds only what the hub does.
DROP TABLE adapter_effects;
DROP TABLE adapter_inbox;
DROP SCHEMA intermediate CASCADE;
