-- Named queries of the operator console (hub/desk/operations.py) and of re-drives
-- (hub/redrive.py, hub/desk/redrives.py). Metadata only: none reads a payload, but the
-- hub's re-drive, which triages the journaled bytes again.
--
-- Where a query takes a municipality ($n::text), an operator sees the rows where it is the
-- sender's or the recipient's, and the rows refused before their signature verified
-- (municipality NULL: nobody knows yet whose they are); NULL (an admin) sees every row.

-- name: ops_throughput
SELECT coalesce(kind, '') AS kind, decision, count(*) AS n
FROM journal
WHERE received_at >= now() - make_interval(secs => $1::float8)
  AND ($2::text IS NULL OR municipality = $2 OR recipient_municipality = $2
       OR municipality IS NULL)
GROUP BY 1, 2
ORDER BY 1, 2;

-- name: ops_dead_letters
SELECT reason_code, count(*) AS n, max(received_at) AS last_at
FROM journal
WHERE decision = 'reject'
  AND received_at >= now() - make_interval(secs => $1::float8)
  AND ($2::text IS NULL OR municipality = $2 OR recipient_municipality = $2
       OR municipality IS NULL)
GROUP BY 1
ORDER BY 2 DESC, 1;

-- name: ops_held
-- Messages still waiting for a 所属長, oldest first, with the database's now for their age.
SELECT now() AS db_now, h.message_id::text AS message_id, h.journal_seq, h.municipality,
       h.department, h.reason_code, h.held_at, h.expires_at, j.kind
FROM held_messages AS h
JOIN journal AS j ON j.seq = h.journal_seq
WHERE h.state = 'held' AND ($1::text IS NULL OR h.municipality = $1)
ORDER BY h.held_at, h.message_id
LIMIT $2;

-- name: ops_held_count
SELECT count(*) FROM held_messages
WHERE state = 'held' AND ($1::text IS NULL OR municipality = $1);

-- name: ops_redrives_pending
SELECT count(*) FROM redrives WHERE state = 'pending';

-- name: journal_browse
-- The journal, newest first, a page at a time: keyset paging on seq ($1, the last seq of
-- the page before), never OFFSET, so a page costs the same however deep it is.
SELECT j.seq, j.message_id::text AS message_id, j.kind, j.sender_system, j.municipality,
       j.recipient_system, j.recipient_municipality, j.procedure,
       j.correlation_id::text AS correlation_id, j.received_at, j.decision, j.reason_code,
       (SELECT r.journal_seq FROM redrives AS r WHERE r.result_seq = j.seq
        ORDER BY r.id LIMIT 1) AS redrive_of,
       (SELECT r.state FROM redrives AS r WHERE r.journal_seq = j.seq
        ORDER BY r.id DESC LIMIT 1) AS redrive_state
FROM journal AS j
WHERE ($1::bigint IS NULL OR j.seq < $1)
  AND ($2::uuid IS NULL OR j.message_id = $2)
  AND ($3::uuid IS NULL OR j.correlation_id = $3)
  AND ($4::text IS NULL OR j.kind = $4)
  AND ($5::text IS NULL OR j.sender_system = $5)
  AND ($6::text IS NULL OR j.recipient_system = $6)
  AND ($7::text IS NULL OR j.decision = $7)
  AND ($8::text IS NULL OR j.reason_code = $8)
  AND ($9::timestamptz IS NULL OR j.received_at >= $9)
  AND ($10::timestamptz IS NULL OR j.received_at < $10)
  AND ($11::text IS NULL OR j.municipality = $11 OR j.recipient_municipality = $11
       OR j.municipality IS NULL)
ORDER BY j.seq DESC
LIMIT $12;

-- name: redrive_candidates
-- The refused rows a selection names that may be re-driven: a re-drivable reason ($1),
-- bytes still kept, and no re-drive pending or done that went through.
SELECT j.seq, j.reason_code, j.kind, j.received_at
FROM journal AS j
WHERE j.decision = 'reject'
  AND j.reason_code = ANY($1::text[])
  AND j.canonical IS NOT NULL
  AND ($2::bigint IS NULL OR j.seq = $2)
  AND ($3::timestamptz IS NULL OR j.received_at >= $3)
  AND ($4::timestamptz IS NULL OR j.received_at < $4)
  AND ($5::text IS NULL OR j.kind = $5)
  AND ($6::text IS NULL OR j.municipality = $6 OR j.recipient_municipality = $6
       OR j.municipality IS NULL)
  AND NOT EXISTS (
      SELECT 1 FROM redrives AS r
      WHERE r.journal_seq = j.seq AND r.state IN ('pending', 'delivered', 'held', 'duplicate')
  )
ORDER BY j.seq
LIMIT $7;

-- name: redrive_request
-- A second confirmation racing the first queues nothing twice (one pending per row).
INSERT INTO redrives (journal_seq, requested_by, selection_sha256)
SELECT seq, $2, $3 FROM unnest($1::bigint[]) AS t(seq)
ON CONFLICT (journal_seq) WHERE state = 'pending' DO NOTHING
RETURNING id, journal_seq;

-- name: redrive_next
-- The oldest pending re-drive, locked until its transaction ends; SKIP LOCKED lets every
-- hub worker take re-drives at once, each a different one.
SELECT r.id, r.journal_seq, j.canonical, j.received_at, j.reason_code
FROM redrives AS r
JOIN journal AS j ON j.seq = r.journal_seq
WHERE r.state = 'pending'
ORDER BY r.id
LIMIT 1
FOR UPDATE OF r SKIP LOCKED;

-- name: redrive_finish
UPDATE redrives
SET state = $2, done_at = now(), result_seq = $3, reason_code = $4, reason = $5
WHERE id = $1 AND state = 'pending';

-- name: journaled_under
-- The journal row under a dedupe key, seen from inside the transaction that may have
-- just written it.
SELECT seq, canonical FROM journal WHERE dedupe_key = $1;
