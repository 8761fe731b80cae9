-- Terminals and contractors at the desk (issue 15: R26/R27, R23).
--
-- The terminals an account may sign in from and use its sessions and tokens from: IP
-- addresses and networks (hub/desk/access.py). None listed, and the account signs in to
-- nothing: so it is for every account that predates this migration, until an admin lists
-- its terminals (`sesshu staff terminals USER --add ...`).
ALTER TABLE staff ADD COLUMN terminals cidr[] NOT NULL DEFAULT '{}';

-- A new role, for a contractor's person (委託作業者), who needs a roster entry.
ALTER TABLE staff DROP CONSTRAINT staff_roles_check;
ALTER TABLE staff ADD CONSTRAINT staff_roles_check
    CHECK (roles <@ ARRAY['operator', 'approver', 'auditor', 'admin', 'contractor']::text[]);

-- The roster of contractors (委託作業者の名簿): the company, the person's name (personal
-- data: never in a log or the audit log, which keep the company and the period), and the
-- days, both included, on which the account may work.
CREATE TABLE contractor_roster (
    user_id      text PRIMARY KEY REFERENCES staff (user_id),
    company      text NOT NULL CHECK (length(company) BETWEEN 1 AND 100),
    person       text NOT NULL CHECK (length(person) BETWEEN 1 AND 100),
    valid_from   date NOT NULL,
    valid_until  date NOT NULL,
    CHECK (valid_from <= valid_until)
);
