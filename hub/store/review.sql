-- The periodic review of the audit trail (R17, hub/log_review.py): what one municipality's
-- rows (or every row: $3 NULL) show for a period [$1, $2). A weekly report reads a week of
-- the log, so these scan it by time rather than keep an index for them.

-- name: review_logins
SELECT at, actor AS user_id, coalesce(terminal->>'client', '') AS client
FROM audit_log
WHERE action = 'login' AND at >= $1 AND at < $2
  AND ($3::text IS NULL OR municipality = $3)
ORDER BY at, seq;

-- name: review_failed_logins
-- By account (`unknown`: an id that names none) and the true reason the audit row keeps.
SELECT actor AS user_id, coalesce(detail->>'reason', '') AS reason, count(*) AS tries,
       count(DISTINCT terminal->>'client') AS clients, min(at) AS first, max(at) AS last
FROM audit_log
WHERE action = 'login.failed' AND at >= $1 AND at < $2
  AND ($3::text IS NULL OR municipality = $3)
GROUP BY 1, 2
ORDER BY 1, 2;

-- name: review_reveals
SELECT actor AS user_id, count(*) AS reveals, count(DISTINCT subject) AS messages,
       max(at) AS last
FROM audit_log
WHERE action = 'held.revealed' AND at >= $1 AND at < $2
  AND ($3::text IS NULL OR municipality = $3)
GROUP BY actor
ORDER BY actor;

-- name: review_refusals
-- The desk's refusals ($4: their actions) by reason, and the hub's refused messages
-- (journal rows decided `reject`) by reason code, as `hub.rejected` ($5).
SELECT action, code, times FROM (
    SELECT action, coalesce(detail->>'reason', '') AS code, count(*) AS times
    FROM audit_log
    WHERE action = ANY($4::text[]) AND at >= $1 AND at < $2
      AND ($3::text IS NULL OR municipality = $3)
    GROUP BY 1, 2
    UNION ALL
    SELECT $5::text, coalesce(reason_code, ''), count(*)
    FROM journal
    WHERE decision = 'reject' AND received_at >= $1 AND received_at < $2
      AND ($3::text IS NULL OR municipality = $3)
    GROUP BY 2
) AS refused
ORDER BY action, code;

-- name: review_unused
-- Enabled accounts made before $2 (the period's end less the days allowed unused) whose
-- last log-in and last session or token use before the period's end ($3) is older than
-- $2, or that were never used.
SELECT s.user_id, s.kind, s.roles, s.created_at, used.last_used
FROM staff AS s
CROSS JOIN LATERAL (
    SELECT greatest(
        (SELECT max(at) FROM audit_log
         WHERE actor = s.user_id AND action = 'login' AND at < $3),
        (SELECT max(last_used_at) FROM sessions
         WHERE user_id = s.user_id AND last_used_at < $3)
    ) AS last_used
) AS used
WHERE s.disabled_at IS NULL AND s.created_at < $2
  AND ($1::text IS NULL OR s.municipality = $1)
  AND (used.last_used IS NULL OR used.last_used < $2)
ORDER BY s.user_id;

-- name: review_marks
-- Auditors' marks (`audit.reviewed`) of the same scope whose period overlaps [$1, $2).
SELECT seq, at, actor, detail
FROM audit_log
WHERE action = 'audit.reviewed'
  AND detail->>'scope' IS NOT DISTINCT FROM $3::text
  AND (detail->>'since')::timestamptz < $2 AND (detail->>'until')::timestamptz > $1
ORDER BY seq;
