-- The hub's approval attestations an inquirer's intermediate server has received: the
-- digest a 所属長 approved for a provider's held reply, which the reply it opens must
-- have (R37). Kept like the inquiry it belongs to: deleted with its results (R42).
CREATE TABLE intermediate.attestations (
    held_message_id  uuid        PRIMARY KEY,
    content_sha256   text        NOT NULL CHECK (content_sha256 ~ '^[0-9a-f]{64}$'),
    received_at      timestamptz NOT NULL DEFAULT now()
);
