-- Retention (README "Retention", hub/retention.py). A journal row's payload bytes are
-- removed after their period; the row's metadata and the SHA-256 of the bytes stay, so the
-- seals in the audit log, which cover each row by that hash, still verify: a seal's digest
-- hashes the bytes while they are kept and takes the kept hash once they are gone
-- (desk.sql, journal_digest).
--
-- The period of a row depends on its procedure and data items (the retention_days of the
-- permitted-inquiry list's rows), so the journal now keeps its data items too. Rows
-- journaled before this migration have none (NULL): they take the transport period, which
-- the list can only shorten, so they are never kept longer than the hub's period.

ALTER TABLE journal
    ALTER COLUMN canonical DROP NOT NULL,
    ADD COLUMN canonical_sha256 text,
    ADD COLUMN pruned_at        timestamptz,
    ADD COLUMN data_items       text[],
    ADD CONSTRAINT journal_bytes_or_their_hash
        CHECK (canonical IS NOT NULL OR (canonical_sha256 IS NOT NULL AND pruned_at IS NOT NULL));

-- The rows that still hold their bytes, by age: what a prune looks through.
CREATE INDEX journal_payload_kept ON journal (received_at) WHERE canonical IS NOT NULL;

-- 情報提供等記録 past their seven years (R47).
CREATE INDEX provision_records_retention ON provision_records (retention_until);
