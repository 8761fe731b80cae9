-- The inbox every adapter of a database shares: one dedupe row per consumer and message,
-- written in the transaction of what the handler does.

-- name: adapter_accept
-- The dedupe row of an adapter; returns a row only the first time a message arrives.
INSERT INTO adapter_inbox (consumer, message_id) VALUES ($1, $2)
ON CONFLICT DO NOTHING
RETURNING message_id;

-- name: adapter_effect
INSERT INTO adapter_effects (consumer, message_id, effect) VALUES ($1, $2, $3);
