-- Named queries of a message's journey (hub/journey.py, `sesshu trace`, the console's
-- message page): what the journal, the outbox, the held messages, the audit trail, the
-- re-drives and the 情報提供等記録 say of a message and of every message sharing its
-- correlation id. Metadata only: no query here reads a payload.

-- name: journey_seqs
-- The journal rows of a journey: those a message or correlation id ($1) or a journal seq
-- ($2) names, the rows a re-drive links to them, then every row sharing one of their
-- message or correlation ids, and the originals of the re-drives among those. Each step is
-- an index look-up (a UNION, not an OR over subqueries, which would scan the journal).
WITH seed AS (
    SELECT seq FROM journal WHERE message_id = $1::uuid
    UNION SELECT seq FROM journal WHERE correlation_id = $1::uuid
    UNION SELECT seq FROM journal WHERE seq = $2::bigint
), linked AS (
    SELECT seq FROM seed
    UNION SELECT r.result_seq FROM redrives AS r JOIN seed AS s ON r.journal_seq = s.seq
          WHERE r.result_seq IS NOT NULL
    UNION SELECT r.journal_seq FROM redrives AS r JOIN seed AS s ON r.result_seq = s.seq
), ids AS (
    SELECT message_id, correlation_id FROM journal WHERE seq IN (SELECT seq FROM linked)
), expanded AS (
    SELECT seq FROM linked
    UNION SELECT j.seq FROM journal AS j JOIN ids ON j.message_id = ids.message_id
    UNION SELECT j.seq FROM journal AS j JOIN ids ON j.correlation_id = ids.correlation_id
)
SELECT seq FROM expanded
UNION SELECT r.journal_seq FROM redrives AS r JOIN expanded AS e ON r.result_seq = e.seq
ORDER BY 1
LIMIT $3;

-- name: journey_hops
SELECT seq, message_id::text AS message_id, kind, sender_system, municipality,
       recipient_system, recipient_municipality, procedure, data_items,
       correlation_id::text AS correlation_id, causation_id::text AS causation_id, key_id,
       sent_at, received_at, decision, reason_code, reason, policy_version, trace_id,
       canonical IS NULL AS pruned
FROM journal
WHERE seq = ANY($1::bigint[])
ORDER BY seq;

-- name: journey_outbox
SELECT journal_seq, exchange, routing_key, created_at, published_at, attempts
FROM outbox
WHERE journal_seq = ANY($1::bigint[])
ORDER BY seq;

-- name: journey_held
SELECT journal_seq, state, reason_code, department, held_at, expires_at, decided_by,
       decided_at, released_at
FROM held_messages
WHERE journal_seq = ANY($1::bigint[]);

-- name: journey_records
SELECT message_id::text AS message_id, journal_seq, direction, kind, procedure, data_items,
       inquirer_system, inquirer_municipality, provider_system, provider_municipality,
       requested_at, provided_at, state, nondisclosure
FROM provision_records
WHERE journal_seq = ANY($1::bigint[])
ORDER BY requested_at, journal_seq;

-- name: journey_audit
-- The audit rows about the journey's messages: by message id, or `journal:<seq>` for a
-- row that has none (a refusal before its signature verified).
SELECT seq, at, actor, action, subject, detail
FROM audit_log
WHERE subject = ANY($1::text[])
ORDER BY seq;

-- name: journey_redrives
SELECT id, journal_seq, requested_by, requested_at, state, done_at, result_seq,
       reason_code, reason
FROM redrives
WHERE journal_seq = ANY($1::bigint[]) OR result_seq = ANY($1::bigint[])
ORDER BY id;
