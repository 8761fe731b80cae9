-- Named queries of retention (hub/retention.py says what goes when): journal payload bytes
-- past their period, 情報提供等記録 past their retention_until. Each runs in the desk's
-- transaction that writes the prune's audit row, so what goes and its counts commit
-- together.

-- name: prune_lock
-- One prune at a time across the hub's processes: the others skip their turn. Nothing else
-- updates old journal rows, so the rows a prune selects are not locked one by one.
SELECT pg_try_advisory_xact_lock(1397966155);

-- name: payload_groups
-- Journal rows still holding their bytes and received more than $1 seconds ago (the
-- shortest period), grouped by what their period depends on. Never a row the outbox has
-- not published (the relay sends its bytes) nor one a held message still waits on.
WITH unsent AS (
    SELECT journal_seq FROM outbox WHERE published_at IS NULL AND journal_seq IS NOT NULL
), waiting AS (
    SELECT journal_seq FROM held_messages WHERE state IN ('held', 'approved')
)
SELECT j.kind, j.decision, j.procedure, array_to_string(j.data_items, ',') AS data_items,
       count(*) AS rows, min(j.received_at) AS oldest
FROM journal AS j
WHERE j.canonical IS NOT NULL
  AND j.received_at < now() - make_interval(secs => $1::float8)
  AND j.seq NOT IN (SELECT journal_seq FROM unsent)
  AND j.seq NOT IN (SELECT journal_seq FROM waiting)
GROUP BY 1, 2, 3, 4;

-- name: payload_prune
-- The rows of each group ($1-$4, as payload_groups names them) received before its cutoff
-- ($5), at most $6 of them (NULL: all), with the same exclusions; unless $7 (a dry run),
-- their bytes are replaced by the SHA-256 of the bytes. Answers each group's count and
-- oldest row, by its position in the arrays.
WITH cutoffs AS (
    SELECT *
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
         WITH ORDINALITY AS c(kind, decision, procedure, data_items, before, ord)
), unsent AS (
    SELECT journal_seq FROM outbox WHERE published_at IS NULL AND journal_seq IS NOT NULL
), waiting AS (
    SELECT journal_seq FROM held_messages WHERE state IN ('held', 'approved')
), due AS (
    SELECT j.seq, j.received_at, c.ord
    FROM journal AS j
    JOIN cutoffs AS c
      ON j.decision = c.decision
     AND j.kind IS NOT DISTINCT FROM c.kind
     AND j.procedure IS NOT DISTINCT FROM c.procedure
     AND array_to_string(j.data_items, ',') IS NOT DISTINCT FROM c.data_items
    WHERE j.canonical IS NOT NULL
      AND j.received_at < c.before
      AND j.seq NOT IN (SELECT journal_seq FROM unsent)
      AND j.seq NOT IN (SELECT journal_seq FROM waiting)
    ORDER BY j.seq
    LIMIT $6::bigint
), pruned AS (
    UPDATE journal AS j
    SET canonical_sha256 = encode(sha256(j.canonical), 'hex'), canonical = NULL,
        pruned_at = now()
    FROM due
    WHERE j.seq = due.seq AND NOT $7::boolean
    RETURNING j.seq
)
SELECT ord, count(*) AS rows, min(received_at) AS oldest
FROM due
GROUP BY ord;

-- name: records_prune
-- 情報提供等記録 whose day of retention has passed (R47: seven years), at most $1 of them
-- (NULL: all); unless $2 (a dry run), deleted. Answers how many, and the oldest request.
WITH due AS (
    SELECT message_id, requested_at
    FROM provision_records
    WHERE retention_until < current_date
    ORDER BY retention_until
    LIMIT $1::bigint
), gone AS (
    DELETE FROM provision_records AS p
    USING due
    WHERE p.message_id = due.message_id AND NOT $2::boolean
    RETURNING p.message_id
)
SELECT count(*) AS rows, min(requested_at) AS oldest FROM due;
