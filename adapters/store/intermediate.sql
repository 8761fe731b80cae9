-- Named queries of the intermediate server adapter's tables (schema `intermediate`).

-- name: linkage_code_for
SELECT code FROM intermediate.linkage_codes WHERE agency = $1 AND person = $2;

-- name: linkage_person_for
SELECT person FROM intermediate.linkage_codes WHERE agency = $1 AND code = $2;

-- name: linkage_put
-- The first code issued for (agency, person) wins. A concurrent second waits for the first
-- to commit, then gets its code back: ON CONFLICT DO UPDATE sees the committed row, where a
-- plain SELECT in the same statement would not (its snapshot predates the winner's commit).
INSERT INTO intermediate.linkage_codes AS l (agency, person, code) VALUES ($1, $2, $3)
ON CONFLICT (agency, person) DO UPDATE SET code = l.code
RETURNING code;

-- name: fukuhon_upsert
INSERT INTO intermediate.fukuhon (person, data_item, history) VALUES ($1, $2, $3::jsonb)
ON CONFLICT (person, data_item)
DO UPDATE SET history = EXCLUDED.history, registered_at = now();

-- name: fukuhon_delete
DELETE FROM intermediate.fukuhon WHERE person = $1 AND data_item = $2;

-- name: fukuhon_history
SELECT history FROM intermediate.fukuhon WHERE person = $1 AND data_item = $2;

-- name: fukuhon_all
SELECT person, history FROM intermediate.fukuhon WHERE data_item = $1 ORDER BY person;
