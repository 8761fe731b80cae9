-- Named queries, one per `-- name: <name>` header; loaded by hub/store/queries.py.

-- name: record_batch
-- Journal a batch (duplicates skipped by dedupe_key) and queue an outbox row for each
-- journal row that was new, a held_messages row for each new hold, and a 情報提供等記録
-- for each inquiry or provision let through or held, in one statement. Returns the new
-- rows and their outbox seq.
WITH incoming AS (
    SELECT *
    FROM unnest(
        $1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
        $8::text[], $9::text[], $10::uuid[], $11::uuid[], $12::text[], $13::timestamptz[],
        $14::bytea[], $15::text[], $16::text[], $17::text[], $18::text[], $19::text[],
        $20::text[], $21::text[], $22::text[], $23::text[], $24::text[], $25::text[],
        $26::text[], $27::jsonb[]
    ) AS t(dedupe_key, message_id, kind, sender_system, sender_instance, recipient_system,
           recipient_municipality, municipality, procedure, correlation_id, causation_id,
           key_id, sent_at, canonical, signature, decision, reason_code, reason,
           policy_version, trace_id, exchange, routing_key, department, originated_by,
           direction, data_items, headers)
), journaled AS (
    INSERT INTO journal (dedupe_key, message_id, kind, sender_system, sender_instance,
                         recipient_system, recipient_municipality, municipality, procedure,
                         correlation_id, causation_id, key_id, sent_at, canonical, signature,
                         decision, reason_code, reason, policy_version, trace_id, data_items)
    SELECT dedupe_key, message_id, kind, sender_system, sender_instance, recipient_system,
           recipient_municipality, municipality, procedure, correlation_id, causation_id,
           key_id, sent_at, canonical, signature, decision, reason_code, reason,
           policy_version, trace_id, string_to_array(data_items, ',')
    FROM incoming
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING seq, dedupe_key, message_id, received_at
), queued AS (
    INSERT INTO outbox (journal_seq, message_id, exchange, routing_key, headers, claimed_until)
    SELECT j.seq, j.message_id, i.exchange, i.routing_key, i.headers,
           now() + make_interval(secs => $28::float8)
    FROM journaled AS j
    JOIN incoming AS i USING (dedupe_key)
    WHERE i.exchange IS NOT NULL
    RETURNING seq, journal_seq
), held AS (
    INSERT INTO held_messages (message_id, journal_seq, municipality, routing_key, reason_code,
                               expires_at, department, originated_by)
    SELECT j.message_id, j.seq, i.municipality, i.routing_key, i.reason_code,
           now() + make_interval(secs => $29::float8), i.department, i.originated_by
    FROM journaled AS j
    JOIN incoming AS i USING (dedupe_key)
    WHERE i.decision = 'hold'
), recorded AS (
    -- A provision's request time is its inquiry's, when the hub carried that inquiry.
    INSERT INTO provision_records (message_id, journal_seq, correlation_id, direction, kind,
                                   procedure, data_items, inquirer_system,
                                   inquirer_municipality, provider_system,
                                   provider_municipality, requested_at, provided_at, state,
                                   retention_until)
    SELECT j.message_id, j.seq, i.correlation_id, i.direction, i.kind, i.procedure,
           string_to_array(i.data_items, ','),
           CASE i.direction WHEN 'inquiry' THEN i.sender_system ELSE i.recipient_system END,
           CASE i.direction WHEN 'inquiry' THEN i.municipality ELSE i.recipient_municipality END,
           CASE i.direction WHEN 'inquiry' THEN i.recipient_system ELSE i.sender_system END,
           CASE i.direction WHEN 'inquiry' THEN i.recipient_municipality ELSE i.municipality END,
           CASE i.direction
               WHEN 'inquiry' THEN j.received_at
               ELSE COALESCE((SELECT min(p.requested_at) FROM provision_records AS p
                              WHERE p.correlation_id = i.correlation_id
                                AND p.direction = 'inquiry'), j.received_at)
           END,
           CASE WHEN i.direction = 'provision' AND i.decision = 'deliver'
                THEN j.received_at END,
           CASE i.decision WHEN 'hold' THEN 'held' ELSE 'delivered' END,
           (j.received_at + interval '7 years')::date
    FROM journaled AS j
    JOIN incoming AS i USING (dedupe_key)
    WHERE i.direction IS NOT NULL AND i.decision IN ('deliver', 'hold')
)
-- Sibling statements share one snapshot: join the RETURNING sets, not the tables.
SELECT j.dedupe_key, q.seq AS outbox_seq
FROM journaled AS j
LEFT JOIN queued AS q ON q.journal_seq = j.seq;

-- name: journaled_bytes
-- A row whose bytes were pruned (retention) answers NULL.
SELECT dedupe_key, canonical FROM journal WHERE dedupe_key = ANY($1::text[]);

-- name: mark_published
-- Run with synchronous_commit off: a mark lost in a crash only means the row is
-- published again, and every consumer dedupes.
UPDATE outbox SET published_at = now(), attempts = attempts + 1
WHERE seq = ANY($1::bigint[]) AND published_at IS NULL;

-- name: extend_claims
-- A worker whose rows waited long renews its claim before publishing them; rows whose
-- claim ran out (a relay may have them) are left to the relay.
UPDATE outbox SET claimed_until = now() + make_interval(secs => $2::float8)
WHERE seq = ANY($1::bigint[]) AND published_at IS NULL AND claimed_until > now()
RETURNING seq;

-- name: claim_expired
-- Rows whose claim ran out unpublished: their writer died or lost the broker. Claiming
-- them (SKIP LOCKED) lets any number of relays run side by side.
WITH claimed AS (
    UPDATE outbox AS o
    SET claimed_until = now() + make_interval(secs => $1::float8)
    WHERE o.seq IN (
        SELECT seq FROM outbox
        WHERE published_at IS NULL AND claimed_until < now()
        ORDER BY claimed_until
        LIMIT $2
        FOR UPDATE SKIP LOCKED
    )
    RETURNING o.seq, o.journal_seq, o.message_id, o.exchange, o.routing_key, o.headers, o.body
)
SELECT c.seq, c.message_id, c.exchange, c.routing_key, c.headers,
       COALESCE(c.body, j.canonical) AS body
FROM claimed AS c
LEFT JOIN journal AS j ON j.seq = c.journal_seq
ORDER BY c.seq;

-- name: journal_summary
SELECT decision, coalesce(reason_code, '') AS reason, count(*) AS n
FROM journal GROUP BY 1, 2 ORDER BY 1, 2;

-- name: journal_by_kind
SELECT kind, decision, coalesce(reason_code, '') AS reason, count(*) AS n
FROM journal GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;

-- name: journal_page
-- Decisions made by routing since a time, a page at a time (for `sesshu policy simulate`);
-- the messages whose bytes were pruned (retention) cannot be replayed.
SELECT seq, canonical, decision, reason_code
FROM journal
WHERE received_at >= $1 AND seq > $2 AND canonical IS NOT NULL
  AND (decision <> 'reject' OR reason_code = ANY($3::text[]))
ORDER BY seq
LIMIT $4;

-- name: journal_count
SELECT count(*) FROM journal;

-- name: outbox_lag
SELECT count(*) AS unpublished,
       COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8 AS oldest_seconds
FROM outbox WHERE published_at IS NULL;

-- name: ping
SELECT 1;
