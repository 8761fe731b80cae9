-- The intermediate server adapter's own tables, in their own schema: the 符号 mapping (F5)
-- and the 副本 (F4). Nothing here holds a name or a My Number.
CREATE SCHEMA intermediate;

CREATE TABLE intermediate.linkage_codes (
    agency     text        NOT NULL,
    person     text        NOT NULL,
    code       text        NOT NULL,
    issued_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agency, person),
    UNIQUE (agency, code)
);

CREATE TABLE intermediate.fukuhon (
    person         text        NOT NULL,
    data_item      text        NOT NULL,
    history        jsonb       NOT NULL,
    registered_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (person, data_item)
);
