-- Approvals wired to people: who decides a held message and who prepared it, staff
-- accounts with their sessions and API tokens, the append-only hash-chained audit log with
-- its signed checkpoints, and the 情報提供等記録 (R47).

ALTER TABLE held_messages
    ADD COLUMN department      text NOT NULL DEFAULT '',
    ADD COLUMN originated_by   text,
    ADD COLUMN content_sha256  text,
    ADD COLUMN released_at     timestamptz;

CREATE INDEX held_messages_due ON held_messages (expires_at) WHERE state = 'held';

-- One account per person (R16) or per system calling the API; never shared. Persons log in
-- with a password (argon2id); systems use API tokens. A disabled account can do nothing
-- (R18) and is kept, so the audit log's actors stay resolvable.
CREATE TABLE staff (
    user_id        text        PRIMARY KEY CHECK (user_id ~ '^[a-z0-9][a-z0-9._-]{1,63}$'),
    kind           text        NOT NULL CHECK (kind IN ('person', 'system')),
    roles          text[]      NOT NULL
                   CHECK (roles <@ ARRAY['operator', 'approver', 'auditor', 'admin']::text[]),
    municipality   text        NOT NULL,
    department     text        NOT NULL,
    may_reveal     boolean     NOT NULL DEFAULT false,
    password_hash  text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    disabled_at    timestamptz,
    CHECK ((kind = 'person') = (password_hash IS NOT NULL))
);

-- Log-in sessions and API tokens: only the SHA-256 of the secret is stored.
CREATE TABLE sessions (
    token_sha256  text        PRIMARY KEY,
    user_id       text        NOT NULL REFERENCES staff (user_id),
    kind          text        NOT NULL CHECK (kind IN ('session', 'api_token')),
    label         text,
    client        text        NOT NULL,
    user_agent    text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    ended_at      timestamptz
);

CREATE INDEX sessions_user ON sessions (user_id);

-- Every act of a person or of the hub on held messages, accounts, sessions, policy and
-- keys. Each row's hash covers its content and the previous row's hash (hub/audit.py), so
-- a changed, removed or inserted row breaks the chain at that row; checkpoints sign the
-- head, so even a rewritten chain fails against them. The trigger makes the table
-- append-only for everyone who does not switch triggers off; verification catches
-- whoever does.
CREATE TABLE audit_log (
    seq           bigint      PRIMARY KEY,
    at            timestamptz NOT NULL,
    actor         text        NOT NULL,
    action        text        NOT NULL,
    subject       text,
    municipality  text,
    terminal      jsonb,
    detail        jsonb       NOT NULL,
    prev_hash     text        NOT NULL,
    hash          text        NOT NULL
);

CREATE INDEX audit_log_subject ON audit_log (subject);
CREATE INDEX audit_log_actor ON audit_log (actor, at);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP;
END;
$$;

CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- The hub's signature over the audit log's head (seq, hash) from time to time; append-only
-- like the log.
CREATE TABLE audit_checkpoints (
    seq        bigint      PRIMARY KEY,
    hash       text        NOT NULL,
    signed_at  timestamptz NOT NULL,
    key_id     text        NOT NULL,
    signature  text        NOT NULL
);

CREATE TRIGGER audit_checkpoints_append_only
    BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

CREATE TRIGGER audit_checkpoints_no_truncate
    BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- 情報提供等記録 (R47): one row for every inquiry and every provision the hub carried (or
-- holds), with both parties, request and provision times, the data items and the
-- non-disclosure flag; kept seven years.
CREATE TABLE provision_records (
    message_id             uuid        PRIMARY KEY,
    journal_seq            bigint      NOT NULL UNIQUE REFERENCES journal (seq),
    correlation_id         uuid        NOT NULL,
    direction              text        NOT NULL CHECK (direction IN ('inquiry', 'provision')),
    kind                   text        NOT NULL,
    procedure              text        NOT NULL,
    data_items             text[]      NOT NULL,
    inquirer_system        text        NOT NULL,
    inquirer_municipality  text        NOT NULL,
    provider_system        text        NOT NULL,
    provider_municipality  text        NOT NULL,
    requested_at           timestamptz NOT NULL,
    provided_at            timestamptz,
    state                  text        NOT NULL
                           CHECK (state IN ('delivered', 'held', 'released', 'rejected', 'expired')),
    nondisclosure          boolean     NOT NULL DEFAULT false,
    retention_until        date        NOT NULL
);

CREATE INDEX provision_records_correlation ON provision_records (correlation_id);
CREATE INDEX provision_records_requested ON provision_records (requested_at);
