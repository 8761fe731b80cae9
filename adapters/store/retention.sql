-- Named queries of retention in a city's adapter database (retention.py). Each runs in
-- the prune's transaction, with the retention_log row of its counts.

-- name: retention_lock
-- One prune of a database at a time (a city's host and `sesshu stack prune` may meet).
SELECT pg_try_advisory_xact_lock(1397966156);

-- name: retention_doses
-- Health management's doses given more than $1 years ago (予防接種法施行規則 §3: kept 5
-- years), at most $2 of them (NULL: all); unless $3 (a dry run), deleted. Answers how
-- many, and the oldest vaccination day among them.
WITH due AS (
    SELECT person, vaccine_type, dose_number, administered_on
    FROM ims.doses
    WHERE administered_on < current_date - make_interval(years => $1::int)
    ORDER BY administered_on
    LIMIT $2::bigint
), gone AS (
    DELETE FROM ims.doses AS d
    USING due
    WHERE (d.person, d.vaccine_type, d.dose_number)
          = (due.person, due.vaccine_type, due.dose_number)
      AND NOT $3::boolean
    RETURNING d.person
)
SELECT count(*) AS rows, min(administered_on) AS oldest FROM due;

-- name: retention_records
-- The intermediate server's 情報提供等記録 whose retention_until (R47: seven years) has
-- passed, at most $1 of them (NULL: all); unless $2 (a dry run), deleted. Answers how
-- many, and the oldest request among them.
WITH due AS (
    SELECT record_id, requested_at
    FROM intermediate.provision_records
    WHERE retention_until < current_date
    ORDER BY retention_until
    LIMIT $1::bigint
), gone AS (
    DELETE FROM intermediate.provision_records AS p
    USING due
    WHERE p.record_id = due.record_id AND NOT $2::boolean
    RETURNING p.record_id
)
SELECT count(*) AS rows, min(requested_at) AS oldest FROM due;

-- name: retention_log_put
INSERT INTO retention_log (actor, counts) VALUES ($1, $2::jsonb);
