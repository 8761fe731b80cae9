-- R48: My Numbers, 住民票コード and the four basic items (name with its kana, address,
-- birth date, sex) are kept encrypted under the municipality's data key
-- (adapters/store/atrest.py): each such column becomes bytea holding AES-256-GCM ciphertext
-- that names its key and is bound to its table, column and row. The key is never in the
-- database. Where a store finds a person by one of them (VRS by My Number, F15, F17), a
-- keyed blind index (HMAC-SHA256) sits beside it.
--
-- Nothing was deployed with data when this was written. The rows of a development
-- database cannot be encrypted here (SQL has no key), and none need preserving: the
-- residents and targets are removed (with health management's recorded doses, which
-- reference them) and come again with the address system's next file (F1). The 符号,
-- 副本, inquiries, records and VRS's doses are kept: they hold none of these values.

TRUNCATE ims.doses, ims.residents, vrs.targets;

ALTER TABLE ims.residents
    DROP COLUMN resident_code,
    DROP COLUMN my_number,
    DROP COLUMN name,
    DROP COLUMN name_kana,
    DROP COLUMN birth_date,
    DROP COLUMN sex,
    DROP COLUMN address;

ALTER TABLE ims.residents
    ADD COLUMN resident_code bytea NOT NULL,   -- 住民票コード (F5)
    ADD COLUMN my_number     bytea NOT NULL,
    ADD COLUMN name          bytea NOT NULL,
    ADD COLUMN name_kana     bytea,
    ADD COLUMN birth_date    bytea NOT NULL,   -- date, as ISO 8601 text
    ADD COLUMN sex           bytea NOT NULL,   -- smallint, as decimal text
    ADD COLUMN address       bytea NOT NULL;

-- Dropping vrs.targets.my_number drops its index (targets_my_number) with it.
ALTER TABLE vrs.targets
    DROP COLUMN my_number,
    DROP COLUMN name,
    DROP COLUMN name_kana,
    DROP COLUMN birth_date,
    DROP COLUMN sex,
    DROP COLUMN address;

ALTER TABLE vrs.targets
    ADD COLUMN my_number       bytea,
    ADD COLUMN my_number_index bytea,   -- blind index: VRS finds a target by My Number
    ADD COLUMN name            bytea NOT NULL,
    ADD COLUMN name_kana       bytea,
    ADD COLUMN birth_date      bytea NOT NULL,
    ADD COLUMN sex             bytea NOT NULL,
    ADD COLUMN address         bytea NOT NULL,
    ADD CONSTRAINT targets_my_number_indexed
        CHECK ((my_number IS NULL) = (my_number_index IS NULL));

CREATE INDEX targets_my_number ON vrs.targets (my_number_index)
    WHERE my_number_index IS NOT NULL;
