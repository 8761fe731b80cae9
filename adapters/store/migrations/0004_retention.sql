-- Retention in an adapter database (README "Retention", adapters/store/retention.py):
-- health management deletes vaccination records five years after the vaccination
-- (予防接種法施行規則 §3) and the intermediate server its 情報提供等記録 once their
-- retention_until (seven years, R47) has passed. Each prune that removes anything leaves a
-- row here with its counts (never what was removed), for whoever reviews the operations
-- log (R17); like the hub's audit log, it is append-only.

CREATE TABLE retention_log (
    seq        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pruned_at  timestamptz NOT NULL DEFAULT now(),
    actor      text        NOT NULL,
    counts     jsonb       NOT NULL
);

CREATE FUNCTION retention_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP;
END;
$$;

CREATE TRIGGER retention_log_append_only
    BEFORE UPDATE OR DELETE ON retention_log
    FOR EACH ROW EXECUTE FUNCTION retention_log_append_only();

CREATE TRIGGER retention_log_no_truncate
    BEFORE TRUNCATE ON retention_log
    FOR EACH STATEMENT EXECUTE FUNCTION retention_log_append_only();

-- What a prune looks through, by age.
CREATE INDEX doses_administered ON ims.doses (administered_on);
CREATE INDEX provision_records_retention ON intermediate.provision_records (retention_until);
