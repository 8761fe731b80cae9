-- Manual imports (R01 「担当者間の二重チェック及び上長のチェック」): a message the hub holds
-- as `manual_import` is checked by two operators of its department before a 所属長 may sign
-- it off. One row per check; an operator checks a message once; the rows stay (with the
-- audit log's `held.checked`) as the record of who checked what, when.
CREATE TABLE import_checks (
    message_id  uuid        NOT NULL REFERENCES held_messages (message_id),
    user_id     text        NOT NULL REFERENCES staff (user_id),
    checked_at  timestamptz NOT NULL,
    PRIMARY KEY (message_id, user_id)
);
