-- Named queries of the approval desk: staff, sessions, held messages, the audit trail.

-- name: staff_add
INSERT INTO staff (user_id, kind, roles, municipality, department, may_reveal, password_hash,
                   terminals)
VALUES ($1, $2, $3::text[], $4, $5, $6, $7, $8::cidr[])
ON CONFLICT (user_id) DO NOTHING
RETURNING user_id;

-- name: roster_add
-- A contractor's roster entry, added with its account.
INSERT INTO contractor_roster (user_id, company, person, valid_from, valid_until)
VALUES ($1, $2, $3, $4, $5);

-- name: roster_names
-- The person named by each contractor's roster entry (for listing the roster only).
SELECT user_id, person FROM contractor_roster ORDER BY user_id;

-- name: staff_get
SELECT st.user_id, st.kind, st.roles, st.municipality, st.department, st.may_reveal,
       st.password_hash, st.created_at, st.disabled_at, st.terminals,
       r.company, r.valid_from, r.valid_until
FROM staff AS st
LEFT JOIN contractor_roster AS r USING (user_id)
WHERE st.user_id = $1;

-- name: staff_list
SELECT st.user_id, st.kind, st.roles, st.municipality, st.department, st.may_reveal,
       st.created_at, st.disabled_at, st.terminals, r.company, r.valid_from, r.valid_until
FROM staff AS st
LEFT JOIN contractor_roster AS r USING (user_id)
ORDER BY st.user_id;

-- name: staff_terminals_lock
-- An account's terminals, locked until the transaction that changes them ends.
SELECT terminals, municipality FROM staff WHERE user_id = $1 FOR UPDATE;

-- name: staff_set_terminals
UPDATE staff SET terminals = $2::cidr[] WHERE user_id = $1;

-- name: staff_disable
-- A leaver's account (R18): disabled, and every session and token of it ended.
WITH disabled AS (
    UPDATE staff SET disabled_at = now()
    WHERE user_id = $1 AND disabled_at IS NULL
    RETURNING user_id
), ended AS (
    UPDATE sessions SET ended_at = now()
    WHERE user_id IN (SELECT user_id FROM disabled) AND ended_at IS NULL
    RETURNING token_sha256
)
SELECT (SELECT count(*) FROM disabled) AS disabled, (SELECT count(*) FROM ended) AS ended;

-- name: staff_set_password
UPDATE staff SET password_hash = $2 WHERE user_id = $1 AND kind = 'person';

-- name: session_add
INSERT INTO sessions (token_sha256, user_id, kind, label, client, user_agent, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7::float8));

-- name: session_staff
-- The account behind a live session or token, with its terminals and roster entry;
-- disabled accounts are returned too, so the caller can say why it refuses them. `idle`:
-- a session (never a token) unused for over $2 seconds, which the caller ends. `due`: not
-- marked used within $3 seconds, so the caller marks it (session_touch) once it admits
-- the request: a page's burst of requests writes the row once, not once each, and a
-- request refused (from another terminal, say) does not count as a use.
WITH live AS (
    SELECT token_sha256, user_id, kind AS credential,
           kind = 'session' AND last_used_at < now() - make_interval(secs => $2::float8) AS idle,
           last_used_at < now() - make_interval(secs => $3::float8) AS due
    FROM sessions
    WHERE token_sha256 = $1 AND ended_at IS NULL AND expires_at > now()
)
SELECT st.user_id, st.kind, st.roles, st.municipality, st.department, st.may_reveal,
       st.created_at, st.disabled_at, st.terminals, r.company, r.valid_from, r.valid_until,
       live.credential, live.idle, live.due
FROM live
JOIN staff AS st USING (user_id)
LEFT JOIN contractor_roster AS r USING (user_id);

-- name: session_touch
-- A session or token marked used now (session_staff says when it is due).
UPDATE sessions SET last_used_at = now()
WHERE token_sha256 = $1 AND ended_at IS NULL;

-- name: session_end
UPDATE sessions SET ended_at = now()
WHERE token_sha256 = $1 AND ended_at IS NULL
RETURNING user_id;

-- name: held_page
-- Held messages of a municipality (and department, when given) in a state, oldest first;
-- the columns of held_get but the content. A NULL limit is no limit (PgStore.held).
SELECT h.message_id::text AS message_id, h.journal_seq, h.municipality, h.department,
       h.routing_key, h.reason_code, h.state, h.held_at, h.expires_at, h.originated_by,
       h.decided_by, h.decided_at, h.comment, h.content_sha256, h.released_at,
       j.kind, j.procedure, j.sender_system, j.municipality AS sender_municipality
FROM held_messages AS h
JOIN journal AS j ON j.seq = h.journal_seq
WHERE h.municipality = $1
  AND ($2::text IS NULL OR h.department = $2)
  AND ($3::text IS NULL OR h.state = $3)
ORDER BY h.held_at, h.message_id
LIMIT $4 OFFSET $5;

-- name: held_count
SELECT count(*)
FROM held_messages AS h
WHERE h.municipality = $1
  AND ($2::text IS NULL OR h.department = $2)
  AND ($3::text IS NULL OR h.state = $3);

-- name: held_get
SELECT h.message_id::text AS message_id, h.journal_seq, h.municipality, h.department,
       h.routing_key, h.reason_code, h.state, h.held_at, h.expires_at, h.originated_by,
       h.decided_by, h.decided_at, h.comment, h.content_sha256, h.released_at,
       j.canonical, j.kind, j.procedure, j.sender_system, j.municipality AS sender_municipality
FROM held_messages AS h
JOIN journal AS j ON j.seq = h.journal_seq
WHERE h.message_id = $1::uuid;

-- name: held_lock
-- The same row, locked until the deciding transaction ends: two approvers at once
-- queue here, and the second sees what the first decided.
SELECT h.message_id::text AS message_id, h.journal_seq, h.municipality, h.department,
       h.routing_key, h.reason_code, h.state, h.held_at, h.expires_at, h.originated_by,
       h.decided_by, h.decided_at, h.comment, h.content_sha256, h.released_at,
       j.canonical, j.kind, j.procedure, j.sender_system, j.municipality AS sender_municipality
FROM held_messages AS h
JOIN journal AS j ON j.seq = h.journal_seq
WHERE h.message_id = $1::uuid
FOR UPDATE OF h;

-- name: held_due
-- Held messages whose time ran out; SKIP LOCKED lets every hub process run the job. The
-- database's clock decided "due", so the caller decides with it too (db_now).
SELECT now() AS db_now, h.message_id::text AS message_id, h.journal_seq, h.municipality, h.department,
       h.routing_key, h.reason_code, h.state, h.held_at, h.expires_at, h.originated_by,
       h.decided_by, h.decided_at, h.comment, h.content_sha256, h.released_at,
       j.canonical, j.kind, j.procedure, j.sender_system, j.municipality AS sender_municipality
FROM held_messages AS h
JOIN journal AS j ON j.seq = h.journal_seq
WHERE h.state = 'held' AND h.expires_at <= now()
ORDER BY h.expires_at
LIMIT $1
FOR UPDATE OF h SKIP LOCKED;

-- name: held_decide
UPDATE held_messages
SET state = $2, decided_by = $3, decided_at = $4, comment = $5, content_sha256 = $6,
    released_at = $7
WHERE message_id = $1::uuid;

-- name: outbox_release
-- The journaled bytes of a released message, to be published by the relay at once.
INSERT INTO outbox (journal_seq, message_id, exchange, routing_key, headers, claimed_until)
VALUES ($1, $2::uuid, $3, $4, $5::jsonb, now())
RETURNING seq;

-- name: provision_decided
UPDATE provision_records SET state = $2, provided_at = $3 WHERE message_id = $1::uuid;

-- name: audit_lock
-- One appender at a time: the chain has one head.
SELECT pg_advisory_xact_lock(1397966154);

-- name: audit_head
SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1;

-- name: audit_insert
INSERT INTO audit_log (seq, at, actor, action, subject, municipality, terminal, detail,
                       prev_hash, hash)
VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9, $10);

-- name: audit_page
SELECT seq, at, actor, action, subject, municipality, terminal, detail, prev_hash, hash
FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2;

-- name: audit_search
SELECT seq, at, actor, action, subject, municipality, terminal, detail, prev_hash, hash
FROM audit_log
WHERE ($1::text IS NULL OR actor = $1)
  AND ($2::text IS NULL OR action = $2)
  AND ($3::text IS NULL OR subject = $3)
  AND ($4::text IS NULL OR municipality = $4)
  AND ($5::timestamptz IS NULL OR at >= $5)
ORDER BY seq DESC
LIMIT $6 OFFSET $7;

-- name: audit_last_of
-- The latest row of an action (what policy or key ring the hub last recorded).
SELECT detail FROM audit_log WHERE action = $1 ORDER BY seq DESC LIMIT 1;

-- name: checkpoint_insert
INSERT INTO audit_checkpoints (seq, hash, signed_at, key_id, signature)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (seq) DO NOTHING;

-- name: checkpoint_last
SELECT seq FROM audit_checkpoints ORDER BY seq DESC LIMIT 1;

-- name: checkpoints
SELECT seq, hash, signed_at, key_id, signature FROM audit_checkpoints ORDER BY seq;

-- name: provision_records_of
SELECT message_id::text AS message_id, correlation_id::text AS correlation_id, direction,
       kind, procedure, data_items, inquirer_system, inquirer_municipality, provider_system,
       provider_municipality, requested_at, provided_at, state, nondisclosure, retention_until
FROM provision_records
WHERE ($1::text IS NULL OR inquirer_municipality = $1 OR provider_municipality = $1)
ORDER BY requested_at DESC
LIMIT $2;

-- name: journal_seal_upto
-- The last journal row a seal may cover: rows received before the lag. Journal writes are
-- single statements bounded by the command timeout, so with a lag well above it no row
-- at or below this seq can still be uncommitted (sequence values grow with time).
SELECT max(seq) FROM journal
WHERE seq > $1 AND received_at < now() - make_interval(secs => $2::float8);

-- name: journal_digest
-- What a seal covers of each journal row: its seq, key, content hash, decision, reason,
-- policy version and time, one line per row in seq order, hashed together. The content
-- hash is of the bytes while they are kept, and the hash kept of them once retention
-- removed them (0006_retention.sql), so a seal holds across a prune.
SELECT count(*) AS rows,
       encode(sha256(convert_to(coalesce(string_agg(
           concat_ws('|', seq, dedupe_key,
                     coalesce(encode(sha256(canonical), 'hex'), canonical_sha256), decision,
                     coalesce(reason_code, ''), policy_version,
                     (extract(epoch FROM received_at) * 1000000)::bigint),
           E'\n' ORDER BY seq), ''), 'UTF8')), 'hex') AS digest
FROM journal
WHERE seq > $1 AND seq <= $2;

-- name: login_locks
-- The log-in locks holding at $3 (the desk's clock, which wrote the audit rows) for
-- account $1 (NULL: an unknown id) at client address $2 (hub/desk/throttle.py says why):
-- a lock holds for $4 seconds after a failure that brought the failures counted within
-- the $4 seconds up to it to its threshold: $5 of the account from the address, $6 from
-- the address, $7 of the account from anywhere. The account's count only failures whose
-- password was checked; the address's all but those the address lock refused. And
-- whether the account logged in from the address within $8 seconds.
WITH failures AS (
    SELECT at,
           coalesce(subject = $1 AND detail->>'reason' IN ('bad_password', 'account_disabled'),
                    false) AS mine,
           coalesce(terminal->>'client' = $2 AND detail->>'reason' <> 'client_locked_out',
                    false) AS here
    FROM audit_log
    WHERE action = 'login.failed'
      AND at > $3::timestamptz - make_interval(secs => 2 * $4::float8)
      AND (subject = $1 OR terminal->>'client' = $2)
), counted AS (
    SELECT at, mine, here,
           count(*) FILTER (WHERE mine AND here) OVER recent AS mine_here,
           count(*) FILTER (WHERE here) OVER recent AS from_here,
           count(*) FILTER (WHERE mine) OVER recent AS of_mine
    FROM failures
    WINDOW recent AS (
        ORDER BY at RANGE BETWEEN make_interval(secs => $4::float8) PRECEDING AND CURRENT ROW
    )
)
SELECT coalesce(bool_or(mine AND here AND mine_here >= $5), false) AS account_here,
       coalesce(bool_or(here AND from_here >= $6), false) AS client,
       coalesce(bool_or(mine AND of_mine >= $7), false) AS account,
       EXISTS (
           SELECT 1 FROM audit_log
           WHERE action = 'login' AND subject = $1 AND terminal->>'client' = $2
             AND at > $3::timestamptz - make_interval(secs => $8::float8)
       ) AS known_terminal
FROM counted
WHERE at > $3::timestamptz - make_interval(secs => $4::float8);

-- name: held_without_department
-- Held rows written before held messages had a department (migration 0003).
SELECT h.message_id::text AS message_id, j.canonical
FROM held_messages AS h
JOIN journal AS j ON j.seq = h.journal_seq
WHERE h.department = '' AND h.state = 'held';

-- name: held_set_department
UPDATE held_messages SET department = $2 WHERE message_id = $1::uuid AND department = '';

-- name: held_gauges
-- What waits for a decision, by municipality, department and reason, with the oldest
-- hold of each group (for the desk's metrics; counts and times only).
SELECT h.municipality, coalesce(h.department, '') AS department, h.reason_code,
       count(*) AS held, extract(epoch FROM min(h.held_at)) AS oldest
FROM held_messages AS h
WHERE h.state = 'held'
GROUP BY 1, 2, 3;

-- name: import_batches
-- The manual imports (R01) held in a municipality and department, one row per batch (the
-- correlation id its rows share): how many rows, who imported it, when, the time left,
-- and the operators who have checked every row of it.
WITH held AS (
    SELECT h.message_id, h.originated_by, h.held_at, h.expires_at, j.correlation_id,
           j.kind, j.procedure
    FROM held_messages AS h
    JOIN journal AS j ON j.seq = h.journal_seq
    WHERE h.municipality = $1 AND h.department = $2
      AND h.reason_code = 'manual_import' AND h.state = 'held'
), batches AS (
    SELECT correlation_id, count(*) AS rows, min(originated_by) AS originated_by,
           min(held_at) AS held_at, min(expires_at) AS expires_at, min(kind) AS kind,
           min(procedure) AS procedure
    FROM held GROUP BY correlation_id
), checks AS (
    SELECT held.correlation_id, k.user_id, count(*) AS checked
    FROM import_checks AS k JOIN held USING (message_id)
    GROUP BY held.correlation_id, k.user_id
)
SELECT b.correlation_id::text AS batch, b.rows, b.originated_by, b.held_at, b.expires_at,
       b.kind, b.procedure,
       coalesce((SELECT array_agg(c.user_id ORDER BY c.user_id) FROM checks AS c
                 WHERE c.correlation_id = b.correlation_id AND c.checked = b.rows),
                '{}') AS checked_by
FROM batches AS b
ORDER BY b.held_at, b.correlation_id
LIMIT $3;

-- name: import_batch_lock
-- The held rows of one manual import batch, locked until the deciding transaction ends.
SELECT h.message_id::text AS message_id, h.journal_seq, h.municipality, h.department,
       h.routing_key, h.reason_code, h.state, h.held_at, h.expires_at, h.originated_by,
       h.decided_by, h.decided_at, h.comment, h.content_sha256, h.released_at,
       j.canonical, j.kind, j.procedure, j.sender_system, j.municipality AS sender_municipality,
       coalesce((SELECT array_agg(k.user_id) FROM import_checks AS k
                 WHERE k.message_id = h.message_id), '{}') AS checked_by
FROM held_messages AS h
JOIN journal AS j ON j.seq = h.journal_seq
WHERE j.correlation_id = $1::uuid AND h.municipality = $2 AND h.department = $3
  AND h.reason_code = 'manual_import' AND h.state = 'held'
ORDER BY h.held_at, h.message_id
FOR UPDATE OF h;

-- name: import_check_put
-- A check kept once: a second of the same person's (a double click) inserts nothing.
INSERT INTO import_checks (message_id, user_id, checked_at) VALUES ($1::uuid, $2, $3)
ON CONFLICT (message_id, user_id) DO NOTHING
RETURNING message_id;
