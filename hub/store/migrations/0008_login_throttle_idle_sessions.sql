-- Log-in throttling by client address and an idle timeout for sessions (issue 15).
--
-- When a session or token was last used: a session unused for desk.idle_timeout_seconds
-- ends (hub/desk/accounts.py), and each request it authenticates marks it used, at most
-- once every few seconds. Sessions open at the upgrade count as used then.
ALTER TABLE sessions ADD COLUMN last_used_at timestamptz NOT NULL DEFAULT now();

-- The throttle counts recent failed log-ins by account and by client address
-- (login_locks in desk.sql; hub/desk/throttle.py): only those rows, by time.
CREATE INDEX audit_log_failed_login_subject ON audit_log (subject, at)
    WHERE action = 'login.failed';
CREATE INDEX audit_log_failed_login_client ON audit_log ((terminal->>'client'), at)
    WHERE action = 'login.failed';
