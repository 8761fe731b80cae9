-- Re-encryption under a municipality's current data key (adapters/store/sealed.py): each
-- sealed table read in batches by primary key, each batch locked and rewritten in one
-- transaction. The put queries take the row key, then the sealed columns, then the index
-- columns, in the order of the table's `SealedTable`.

-- name: atrest_residents_batch
SELECT person, resident_code, my_number, name, name_kana, birth_date, sex, address
FROM ims.residents
WHERE $1::text IS NULL OR person > $1
ORDER BY person
LIMIT $2
FOR UPDATE;

-- name: atrest_residents_put
-- Not `updated_at`: the person's data did not change, only the key it is sealed under.
UPDATE ims.residents AS r
SET resident_code = n.resident_code, my_number = n.my_number, name = n.name,
    name_kana = n.name_kana, birth_date = n.birth_date, sex = n.sex, address = n.address
FROM unnest($1::text[], $2::bytea[], $3::bytea[], $4::bytea[], $5::bytea[], $6::bytea[],
        $7::bytea[], $8::bytea[])
    AS n (person, resident_code, my_number, name, name_kana, birth_date, sex, address)
WHERE r.person = n.person;

-- name: atrest_residents_keys
-- How many ciphertexts each key sealed (the key id is bytes 2-9 of a ciphertext).
SELECT encode(substring(v.blob FROM 2 FOR 8), 'hex') AS key_id, count(*) AS ciphertexts
FROM ims.residents,
    LATERAL (VALUES (resident_code), (my_number), (name), (name_kana), (birth_date), (sex),
        (address)) AS v (blob)
WHERE v.blob IS NOT NULL
GROUP BY 1;

-- name: atrest_targets_batch
SELECT basic_code, my_number, name, name_kana, birth_date, sex, address
FROM vrs.targets
WHERE $1::text IS NULL OR basic_code > $1
ORDER BY basic_code
LIMIT $2
FOR UPDATE;

-- name: atrest_targets_put
UPDATE vrs.targets AS t
SET my_number = n.my_number, name = n.name, name_kana = n.name_kana,
    birth_date = n.birth_date, sex = n.sex, address = n.address,
    my_number_index = n.my_number_index
FROM unnest($1::text[], $2::bytea[], $3::bytea[], $4::bytea[], $5::bytea[], $6::bytea[],
        $7::bytea[], $8::bytea[])
    AS n (basic_code, my_number, name, name_kana, birth_date, sex, address, my_number_index)
WHERE t.basic_code = n.basic_code;

-- name: atrest_targets_keys
SELECT encode(substring(v.blob FROM 2 FOR 8), 'hex') AS key_id, count(*) AS ciphertexts
FROM vrs.targets,
    LATERAL (VALUES (my_number), (name), (name_kana), (birth_date), (sex), (address))
        AS v (blob)
WHERE v.blob IS NOT NULL
GROUP BY 1;
