-- 情報提供等記録 (R47) complete: each record names the subject by this agency's 符号
-- (never a My Number), and the provider's names the reply it sent, so that when the hub
-- says a 所属長 rejected that reply or nobody approved it in time, the record says so
-- ("rejected", "withheld") instead of "provided". Older rows have neither (NULL).
ALTER TABLE intermediate.provision_records ADD COLUMN subject text;
ALTER TABLE intermediate.provision_records ADD COLUMN reply_id uuid;

CREATE INDEX provision_records_reply ON intermediate.provision_records (reply_id)
    WHERE reply_id IS NOT NULL;

-- A resident's view of the records about them (F9, as マイナポータル shows them).
CREATE INDEX provision_records_subject ON intermediate.provision_records (subject)
    WHERE subject IS NOT NULL;
