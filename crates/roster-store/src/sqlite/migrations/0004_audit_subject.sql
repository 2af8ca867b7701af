-- Roster's SQLite schema, version 4: a user's history. The admin's page of a user reads the
-- audit rows about it (`subject_id`, newest first); without this index that read walks the
-- whole log.
CREATE INDEX audit_log_subject ON audit_log (subject_id, seq);
