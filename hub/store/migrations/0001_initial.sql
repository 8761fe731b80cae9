-- Journal of every envelope the hub received, the outbox it publishes from, and the
-- adapters' dedupe table. The journal's unique dedupe_key is the hub's inbox: a verified
-- envelope is keyed by its id, anything rejected before its signature held by the hash of
-- its bytes, so a forged copy can never take the id of a real message.

CREATE TABLE journal (
    seq                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dedupe_key              text        NOT NULL UNIQUE,
    message_id              uuid,
    kind                    text,
    sender_system           text,
    sender_instance         text,
    recipient_system        text,
    recipient_municipality  text,
    municipality            text,
    procedure               text,
    correlation_id          uuid,
    causation_id            uuid,
    key_id                  text,
    sent_at                 timestamptz,
    received_at             timestamptz NOT NULL DEFAULT now(),
    canonical               bytea       NOT NULL,
    signature               text,
    decision                text        NOT NULL CHECK (decision IN ('deliver', 'hold', 'reject')),
    reason_code             text,
    reason                  text,
    policy_version          text        NOT NULL,
    trace_id                text,
    CHECK ((decision = 'deliver') = (reason_code IS NULL))
);

CREATE INDEX journal_message_id ON journal (message_id);
CREATE INDEX journal_correlation_id ON journal (correlation_id);
CREATE INDEX journal_received_at ON journal (received_at);

-- What the hub still has to publish. A row either points at the journal's bytes (a
-- delivery or dead-letter of what was received) or carries its own body (a message the
-- hub writes itself, such as a rejection notice). The worker that writes a row holds a
-- claim on it until claimed_until; only after that may a relay claim and publish it, so
-- a row is published by one claimant at a time.
CREATE TABLE outbox (
    seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    journal_seq   bigint      REFERENCES journal (seq),
    message_id    uuid,
    exchange      text        NOT NULL,
    routing_key   text        NOT NULL,
    body          bytea,
    headers       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    claimed_until timestamptz NOT NULL,
    published_at  timestamptz,
    attempts      integer     NOT NULL DEFAULT 0,
    last_error    text,
    CHECK ((journal_seq IS NULL) <> (body IS NULL))
);

CREATE INDEX outbox_unpublished ON outbox (claimed_until) WHERE published_at IS NULL;

-- Adapters dedupe deliveries by message id, per consumer, in the same transaction as
-- their effect, so a redelivery is a no-op for them too.
CREATE TABLE adapter_inbox (
    consumer     text        NOT NULL,
    message_id   uuid        NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);

-- What an adapter did with each delivery, written in the dedupe row's transaction: the
-- count per message shows whether anything was processed twice.
CREATE TABLE adapter_effects (
    seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    consumer     text        NOT NULL,
    message_id   uuid        NOT NULL,
    effect       text        NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX adapter_effects_message ON adapter_effects (consumer, message_id);
