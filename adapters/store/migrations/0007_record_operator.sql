-- 情報提供等記録 (R47, R16): the inquirer's record names the staff account that made the
-- inquiry at health management (its envelope's `sender.operator`), so an auditor reads who
-- asked, not only which agency. NULL where no person made it (older rows; the provider's
-- record, which knows the asking agency only).
ALTER TABLE intermediate.provision_records ADD COLUMN operator text;
