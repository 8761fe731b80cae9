-- An adapter database: a city's own systems keep their state here (one database per
-- city, as each city runs its own systems), and the network keeps its own in another.
-- Never the hub's database: the hub routes, it does not hold what the systems hold.

-- Each adapter dedupes deliveries by message id in the transaction of its effect.
CREATE TABLE adapter_inbox (
    consumer     text        NOT NULL,
    message_id   uuid        NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);

CREATE TABLE adapter_effects (
    seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    consumer     text        NOT NULL,
    message_id   uuid        NOT NULL,
    effect       text        NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX adapter_effects_message ON adapter_effects (consumer, message_id);

-- Health-management system: the residents the address system hands over (F1). The
-- system of record holds the person's details; nothing here is ever logged.
CREATE SCHEMA ims;

CREATE TABLE ims.residents (
    person          text        PRIMARY KEY,   -- 団体内統合宛名番号
    basic_code      text        NOT NULL UNIQUE,
    resident_code   text        NOT NULL,      -- 住民票コード (符号 acquisition, F5)
    my_number       text        NOT NULL,
    name            text        NOT NULL,
    name_kana       text,
    birth_date      date        NOT NULL,
    sex             smallint    NOT NULL,
    address         text        NOT NULL,
    ticket_number   text        UNIQUE,
    ticket_issued_on date,
    status          text        NOT NULL DEFAULT 'resident',
    status_on       date,
    -- What was sent for the person, each marked once the broker confirmed it, so a file
    -- handled again after a failed send sends what is still missing.
    coded           boolean     NOT NULL DEFAULT false,  -- 符号 acquisition info (F5)
    targeted        boolean     NOT NULL DEFAULT false,  -- target and notice (F11, F2)
    flagged         text,                                -- the last status flagged (F16)
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- The doses the returned 予診票 recorded (F3), from which the 副本 is registered (F4).
CREATE TABLE ims.doses (
    person          text        NOT NULL REFERENCES ims.residents (person),
    vaccine_type    text        NOT NULL,
    dose_number     smallint    NOT NULL,
    administered_on date        NOT NULL,
    lot_number      text,
    manufacturer    text,
    PRIMARY KEY (person, vaccine_type, dose_number)
);

-- Intermediate server: 符号 mapping (F5), 副本 (F4), its copy of the list (F8, R35),
-- outbound inquiries and their results (F6, R42), and its 情報提供等記録 (R47).
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

CREATE TABLE intermediate.network_list (
    version      text        PRIMARY KEY,
    rows         jsonb       NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);

-- Permits the network issued for inquiries to this city, kept until the inquiry arrives.
CREATE TABLE intermediate.permits (
    permit_id    uuid        PRIMARY KEY,
    inquiry_id   uuid        NOT NULL,
    permit       jsonb       NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE intermediate.inquiries (
    inquiry_id    uuid        PRIMARY KEY,
    person        text        NOT NULL,
    provider      text        NOT NULL,
    procedure     text        NOT NULL,
    data_item     text        NOT NULL,
    requested_at  timestamptz NOT NULL,
    state         text        NOT NULL DEFAULT 'sent',
    result        jsonb,
    finished_at   timestamptz,
    delete_after  timestamptz
);

CREATE INDEX inquiries_due ON intermediate.inquiries (delete_after)
    WHERE delete_after IS NOT NULL;

CREATE TABLE intermediate.provision_records (
    record_id        uuid        PRIMARY KEY,
    inquiry_id       uuid        NOT NULL,
    role             text        NOT NULL CHECK (role IN ('inquirer', 'provider')),
    inquirer         text        NOT NULL,
    provider         text        NOT NULL,
    procedure        text        NOT NULL,
    data_item        text        NOT NULL,
    requested_at     timestamptz NOT NULL,
    provided_at      timestamptz,
    outcome          text        NOT NULL,
    nondisclosure    boolean     NOT NULL DEFAULT false,
    retention_until  date        NOT NULL,
    UNIQUE (inquiry_id, role)
);

-- VRS (one city's part of it): people due with their tickets (F11), doses (F12), flags
-- (F16), and what came in from a former city (F14).
CREATE SCHEMA vrs;

CREATE TABLE vrs.targets (
    basic_code        text        PRIMARY KEY,
    ticket_number     text        NOT NULL UNIQUE,
    my_number         text,
    name              text        NOT NULL,
    name_kana         text,
    birth_date        date        NOT NULL,
    sex               smallint    NOT NULL,
    address           text        NOT NULL,
    ticket_issued_on  date        NOT NULL,
    status            text        NOT NULL DEFAULT 'active',
    status_on         date,
    registered_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX targets_my_number ON vrs.targets (my_number) WHERE my_number IS NOT NULL;

CREATE TABLE vrs.doses (
    ticket_number  text        NOT NULL,
    dose_number    smallint    NOT NULL,
    dose           jsonb       NOT NULL,
    source         text        NOT NULL,   -- 'site' (F12) or 'transfer_in' (F14)
    exported_at    timestamptz,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ticket_number, dose_number)
);

CREATE TABLE vrs.transfer_inquiries (
    inquiry_id           uuid        PRIMARY KEY,
    former_municipality  text        NOT NULL,
    ticket_number        text,
    state                text        NOT NULL DEFAULT 'sent',
    doses                integer,
    requested_at         timestamptz NOT NULL DEFAULT now(),
    answered_at          timestamptz
);

-- The network: who each agency's 符号 stands for (as a keyed hash of the 住民票コード, so
-- its table alone identifies nobody), the permits it issued, the list it distributes.
CREATE SCHEMA nws;

CREATE TABLE nws.codes (
    agency      text        NOT NULL,
    code        text        NOT NULL,
    individual  bytea       NOT NULL,
    PRIMARY KEY (agency, code),
    UNIQUE (agency, individual)
);

CREATE TABLE nws.permits (
    permit_id   uuid        PRIMARY KEY,
    inquiry_id  uuid        NOT NULL UNIQUE,
    inquirer    text        NOT NULL,
    provider    text        NOT NULL,
    procedure   text        NOT NULL,
    data_item   text        NOT NULL,
    issued_at   timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    correlation_id uuid     NOT NULL,
    answered_at timestamptz
);

CREATE INDEX permits_correlation ON nws.permits (correlation_id);
