-- Named queries of the systems' own state in a city's adapter database (schemas ims,
-- intermediate, vrs) and in the network's (schema nws).

-- name: ims_resident_put
-- The address system's latest word on a person (F1), its personal columns ciphertext
-- (R48); returns whether the person is new and the status before (the subquery sees the
-- statement's snapshot, from before its own update). Two imports racing on one person
-- could both see the old status; one poller per city reads the residents folder, so they
-- do not race.
INSERT INTO ims.residents AS r (person, basic_code, resident_code, my_number, name, name_kana,
    birth_date, sex, address, ticket_number, ticket_issued_on, status, status_on)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (person) DO UPDATE SET
    name = EXCLUDED.name, name_kana = EXCLUDED.name_kana, address = EXCLUDED.address,
    status = EXCLUDED.status, status_on = EXCLUDED.status_on, updated_at = now(),
    ticket_number = coalesce(r.ticket_number, EXCLUDED.ticket_number),
    ticket_issued_on = coalesce(r.ticket_issued_on, EXCLUDED.ticket_issued_on)
RETURNING (xmax = 0) AS inserted, (SELECT status FROM ims.residents WHERE person = $1) AS before;

-- name: ims_resident
SELECT * FROM ims.residents WHERE person = $1;

-- name: ims_coded
UPDATE ims.residents SET coded = true WHERE person = $1;

-- name: ims_targeted
UPDATE ims.residents SET targeted = true WHERE person = ANY($1::text[]);

-- name: ims_flagged
UPDATE ims.residents SET flagged = $2 WHERE person = $1;

-- name: ims_dose_put
INSERT INTO ims.doses (person, vaccine_type, dose_number, administered_on, lot_number,
    manufacturer)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (person, vaccine_type, dose_number) DO UPDATE SET
    administered_on = EXCLUDED.administered_on, lot_number = EXCLUDED.lot_number,
    manufacturer = EXCLUDED.manufacturer;

-- name: ims_history
SELECT vaccine_type, dose_number, administered_on, lot_number, manufacturer
FROM ims.doses WHERE person = $1
ORDER BY administered_on, vaccine_type COLLATE "C", dose_number;

-- name: ims_all_doses
-- Every recorded dose, for reconciling the 副本 against the original (R46).
SELECT person, vaccine_type, dose_number, administered_on, lot_number, manufacturer
FROM ims.doses
ORDER BY person COLLATE "C", administered_on, vaccine_type COLLATE "C", dose_number;

-- name: ims_resident_by_basic_code
SELECT * FROM ims.residents WHERE basic_code = $1;

-- name: is_list_put
INSERT INTO intermediate.network_list (version, rows) VALUES ($1, $2::jsonb)
ON CONFLICT (version) DO NOTHING;

-- name: is_list_latest
SELECT version, rows FROM intermediate.network_list ORDER BY received_at DESC, version LIMIT 1;

-- name: is_permit_put
INSERT INTO intermediate.permits (permit_id, inquiry_id, permit) VALUES ($1, $2, $3::jsonb)
ON CONFLICT (permit_id) DO NOTHING;

-- name: is_permit
SELECT permit FROM intermediate.permits WHERE permit_id = $1;

-- name: is_inquiry_put
INSERT INTO intermediate.inquiries (inquiry_id, person, provider, procedure, data_item,
    requested_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (inquiry_id) DO NOTHING;

-- name: is_inquiry
SELECT * FROM intermediate.inquiries WHERE inquiry_id = $1;

-- name: is_inquiry_state
UPDATE intermediate.inquiries SET state = $2 WHERE inquiry_id = $1 AND finished_at IS NULL;

-- name: is_inquiry_finish
UPDATE intermediate.inquiries
SET state = $2, result = $3::jsonb, finished_at = $4, delete_after = $5
WHERE inquiry_id = $1;

-- name: is_inquiry_purge
-- R42: a finished inquiry's result is deleted once its time has come, and an inquiry that
-- never finished (its reply lost or never sent) once it is older than $2.
DELETE FROM intermediate.inquiries
WHERE delete_after <= $1 OR (finished_at IS NULL AND requested_at <= $2::timestamptz)
RETURNING inquiry_id;

-- name: is_record_put
INSERT INTO intermediate.provision_records (record_id, inquiry_id, role, inquirer, provider,
    procedure, data_item, requested_at, provided_at, outcome, nondisclosure, retention_until,
    subject, reply_id, operator)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
ON CONFLICT (inquiry_id, role) DO UPDATE SET
    provided_at = EXCLUDED.provided_at, outcome = EXCLUDED.outcome,
    nondisclosure = EXCLUDED.nondisclosure OR provision_records.nondisclosure,
    subject = COALESCE(EXCLUDED.subject, provision_records.subject),
    reply_id = COALESCE(EXCLUDED.reply_id, provision_records.reply_id),
    operator = COALESCE(EXCLUDED.operator, provision_records.operator);

-- name: is_record_outcome
UPDATE intermediate.provision_records SET outcome = $2
WHERE reply_id = $1 AND role = 'provider'
RETURNING record_id;

-- name: is_records
SELECT * FROM intermediate.provision_records ORDER BY requested_at, role;

-- name: is_records_about
SELECT * FROM intermediate.provision_records
WHERE subject = $1 AND NOT nondisclosure
ORDER BY requested_at DESC, role
LIMIT $2;

-- name: is_attestation_put
INSERT INTO intermediate.attestations (held_message_id, content_sha256) VALUES ($1, $2)
ON CONFLICT (held_message_id) DO NOTHING;

-- name: is_attestation
SELECT content_sha256 FROM intermediate.attestations WHERE held_message_id = $1;

-- name: vrs_target_put
-- The personal columns are ciphertext (R48); a My Number and its blind index come and stay
-- together.
INSERT INTO vrs.targets (basic_code, ticket_number, my_number, name, name_kana, birth_date,
    sex, address, ticket_issued_on, my_number_index)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (basic_code) DO UPDATE SET
    my_number = coalesce(EXCLUDED.my_number, vrs.targets.my_number),
    my_number_index = coalesce(EXCLUDED.my_number_index, vrs.targets.my_number_index),
    name = EXCLUDED.name, name_kana = EXCLUDED.name_kana, address = EXCLUDED.address;

-- name: vrs_target_by_ticket
SELECT * FROM vrs.targets WHERE ticket_number = $1;

-- name: vrs_target_by_basic_code
SELECT * FROM vrs.targets WHERE basic_code = $1;

-- name: vrs_target_by_my_number
-- By the My Number's blind index under each data key ($1), so rows indexed before a
-- rotation are found too. A person registered again (a new basic code) has two rows: the
-- active one, the newest.
SELECT * FROM vrs.targets WHERE my_number_index = ANY($1::bytea[])
ORDER BY (status = 'active') DESC, registered_at DESC
LIMIT 1;

-- name: vrs_target_status
UPDATE vrs.targets SET status = $2, status_on = $3 WHERE basic_code = $1 RETURNING basic_code;

-- name: vrs_dose_put
INSERT INTO vrs.doses (ticket_number, dose_number, dose, source) VALUES ($1, $2, $3::jsonb, $4)
ON CONFLICT (ticket_number, dose_number) DO NOTHING
RETURNING ticket_number;

-- name: vrs_doses_of
SELECT dose FROM vrs.doses WHERE ticket_number = $1 ORDER BY dose_number;

-- name: vrs_doses_given_elsewhere
SELECT dose_number FROM vrs.doses WHERE ticket_number = $1 AND source <> 'site';

-- name: vrs_unexported
SELECT t.basic_code, d.ticket_number, d.dose_number, d.dose
FROM vrs.doses d JOIN vrs.targets t USING (ticket_number)
WHERE d.exported_at IS NULL
ORDER BY d.ticket_number COLLATE "C", d.dose_number
LIMIT $1;

-- name: vrs_mark_exported
UPDATE vrs.doses SET exported_at = now()
WHERE (ticket_number, dose_number) IN (SELECT * FROM unnest($1::text[], $2::smallint[]));

-- name: vrs_transfer_put
INSERT INTO vrs.transfer_inquiries (inquiry_id, former_municipality, ticket_number)
VALUES ($1, $2, $3)
ON CONFLICT (inquiry_id) DO NOTHING;

-- name: vrs_transfer
SELECT * FROM vrs.transfer_inquiries WHERE inquiry_id = $1;

-- name: vrs_transfer_answered
UPDATE vrs.transfer_inquiries SET state = $2, doses = $3, answered_at = now()
WHERE inquiry_id = $1;

-- name: nws_code_put
INSERT INTO nws.codes (agency, code, individual) VALUES ($1, $2, $3)
ON CONFLICT DO NOTHING;

-- name: nws_code_convert
-- The provider's 符号 for the individual the inquirer's 符号 stands for.
SELECT theirs.code FROM nws.codes ours
JOIN nws.codes theirs ON theirs.individual = ours.individual AND theirs.agency = $3
WHERE ours.agency = $1 AND ours.code = $2;

-- name: nws_permit_put
INSERT INTO nws.permits (permit_id, inquiry_id, inquirer, provider, procedure, data_item,
    issued_at, expires_at, correlation_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (inquiry_id) DO NOTHING;

-- name: nws_permit
SELECT * FROM nws.permits WHERE permit_id = $1;

-- name: nws_permit_for_inquiry
SELECT * FROM nws.permits WHERE inquiry_id = $1;

-- name: nws_permit_by_correlation
SELECT * FROM nws.permits WHERE correlation_id = $1 ORDER BY issued_at LIMIT 1;

-- name: nws_permit_answered
UPDATE nws.permits SET answered_at = now() WHERE inquiry_id = $1;

-- name: ims_acts_log
INSERT INTO ims.edge_acts (operation, file_sha256, line, operator, terminal, outcome, reason)
SELECT $1, $2, *
FROM unnest($3::int[], $4::text[], $5::text[], $6::text[], $7::text[])
ON CONFLICT (operation, file_sha256, line) DO NOTHING;

-- name: vrs_acts_log
INSERT INTO vrs.edge_acts (operation, file_sha256, line, operator, terminal, outcome, reason)
SELECT $1, $2, *
FROM unnest($3::int[], $4::text[], $5::text[], $6::text[], $7::text[])
ON CONFLICT (operation, file_sha256, line) DO NOTHING;

-- name: ims_acts
SELECT at, operation, file_sha256, line, operator, terminal, outcome, reason
FROM ims.edge_acts ORDER BY seq;

-- name: vrs_acts
SELECT at, operation, file_sha256, line, operator, terminal, outcome, reason
FROM vrs.edge_acts ORDER BY seq;

-- name: kiosk_applications_log
INSERT INTO kiosk.applications (application_id, channel, terminal, operator, id_document,
                                id_checked_by, id_checked_at, outcome, reason)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9);

-- name: kiosk_application_known
SELECT EXISTS (SELECT 1 FROM kiosk.applications WHERE application_id = $1);

-- name: kiosk_applications
SELECT at, application_id, channel, terminal, operator, id_document, id_checked_by,
       id_checked_at, outcome, reason
FROM kiosk.applications ORDER BY seq;
