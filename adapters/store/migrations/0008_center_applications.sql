-- The certificate center's record of who applied where (F17-F19, R05-R10): every
-- application a terminal sent, taken or refused, with the terminal that proved who it is,
-- the channel that terminal has, at the counter the staff account and the ID-check record
-- (document type, checked by whom, when; 番号法 §16), the outcome and its reason: `taken`
-- or `refused` by the center, then what became of a taken one (`issued`, `vrs_refused`
-- with VRS's code, `unanswered` when VRS said nothing in time, `failed` with the error's
-- type when the center could not finish). Nothing
-- of the person: no My Number, name, address or birth date, and never the certificate
-- (R50). Every attempt is kept, append-only: an application id sent again is refused
-- (duplicate_application) and that refusal recorded beside the first.
CREATE SCHEMA kiosk;

CREATE TABLE kiosk.applications (
    seq              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at               timestamptz NOT NULL DEFAULT now(),
    application_id   uuid        NOT NULL,
    channel          text        NOT NULL CHECK (channel IN ('kiosk', 'app', 'counter')),
    terminal         text        NOT NULL,
    operator         text,
    id_document      text,
    id_checked_by    text,
    id_checked_at    timestamptz,
    outcome          text        NOT NULL
                                 CHECK (outcome IN ('taken', 'refused', 'issued',
                                                    'vrs_refused', 'unanswered', 'failed')),
    reason           text
);
CREATE INDEX applications_terminal ON kiosk.applications (terminal, at);
CREATE INDEX applications_id ON kiosk.applications (application_id);
-- One taken application per id, whatever process took it.
CREATE UNIQUE INDEX applications_taken_once ON kiosk.applications (application_id)
    WHERE outcome = 'taken';

CREATE FUNCTION kiosk.applications_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP;
END;
$$;

CREATE TRIGGER applications_append_only
    BEFORE UPDATE OR DELETE ON kiosk.applications
    FOR EACH ROW EXECUTE FUNCTION kiosk.applications_append_only();

CREATE TRIGGER applications_no_truncate
    BEFORE TRUNCATE ON kiosk.applications
    FOR EACH STATEMENT EXECUTE FUNCTION kiosk.applications_append_only();
