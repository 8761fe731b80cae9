-- The act logs of the health-management and VRS edges (R29/R31, R32–R34, R23): every row
-- of a request file, taken or refused, with the staff account that made it, the terminal
-- it came from, when, the operation (the request folder) and the outcome with its reason.
-- Nothing personal: the file by its digest, the row by its line. A file handled again
-- after a crash logs each row once (the first outcome stands).
CREATE TABLE ims.edge_acts (
    seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    operation    text        NOT NULL,
    file_sha256  text        NOT NULL,
    line         integer     NOT NULL,
    operator     text,
    terminal     text,
    outcome      text        NOT NULL CHECK (outcome IN ('taken', 'refused')),
    reason       text,
    UNIQUE (operation, file_sha256, line)
);
CREATE INDEX edge_acts_operator ON ims.edge_acts (operator, at);

CREATE TABLE vrs.edge_acts (LIKE ims.edge_acts INCLUDING ALL);
