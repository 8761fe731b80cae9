-- Messages routing held for a 所属長 (自動応答不可フラグ, R37), with the decision taken on
-- them. Written in the same statement as their journal row (record_batch), so a held
-- message is never journaled without being held, nor held without being journaled.
CREATE TABLE held_messages (
    message_id    uuid        PRIMARY KEY,
    journal_seq   bigint      NOT NULL UNIQUE REFERENCES journal (seq),
    municipality  text        NOT NULL,
    routing_key   text        NOT NULL,
    reason_code   text        NOT NULL,
    state         text        NOT NULL DEFAULT 'held'
                  CHECK (state IN ('held', 'approved', 'released', 'rejected', 'expired')),
    held_at       timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    decided_by    text,
    decided_at    timestamptz,
    comment       text,
    CHECK (expires_at > held_at)
);

CREATE INDEX held_messages_open ON held_messages (municipality, held_at) WHERE state = 'held';
