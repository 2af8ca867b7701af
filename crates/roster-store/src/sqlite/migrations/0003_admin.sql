-- Roster's SQLite schema, version 3: administration. Admin accounts, their console sessions,
-- admin and application API tokens, and the SCIM request log.
--
-- Secrets are never stored: passwords as argon2id PHC strings, session cookies and API token
-- secrets as their SHA-256.

-- Administrators. The username is unique case-insensitively: `username_lc` holds it folded by
-- Rust's Unicode to_lowercase (SQLite's NOCASE folds ASCII only, and usernames may be any
-- letters), as the directory's names are.
CREATE TABLE admin_accounts (
    id             INTEGER PRIMARY KEY,
    username       TEXT NOT NULL,
    username_lc    TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    created_ms     INTEGER NOT NULL,
    last_login_ms  INTEGER
) STRICT;

-- Console sessions by the SHA-256 of their cookie; they go with their account (deleted, or
-- its password changed).
CREATE TABLE admin_sessions (
    id_hash     BLOB PRIMARY KEY NOT NULL CHECK (length(id_hash) = 32),
    account_id  INTEGER NOT NULL REFERENCES admin_accounts (id) ON DELETE CASCADE,
    csrf        TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    expires_ms  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX admin_sessions_account ON admin_sessions (account_id);
CREATE INDEX admin_sessions_expiry ON admin_sessions (expires_ms);

-- Admin and application API tokens by their public id.
CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY NOT NULL,
    scope         TEXT NOT NULL CHECK (scope IN ('admin', 'app')),
    hash          BLOB NOT NULL CHECK (length(hash) = 32),
    description   TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_ms    INTEGER NOT NULL,
    expires_ms    INTEGER,
    last_used_ms  INTEGER
) STRICT;

-- The SCIM request log, in arrival order (`seq`), going with its connector. Bodies are kept
-- only for failed requests, masked. Written in batches off the SCIM write path.
CREATE TABLE request_log (
    seq            INTEGER PRIMARY KEY,
    connector_id   TEXT NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
    at_ms          INTEGER NOT NULL,
    request_id     TEXT,
    method         TEXT NOT NULL,
    path           TEXT NOT NULL,
    status         INTEGER NOT NULL,
    duration_ms    INTEGER NOT NULL,
    request_body   TEXT,
    response_body  TEXT
) STRICT;
-- A connector's log newest first (and its last request); also what deleting a connector walks.
CREATE INDEX request_log_connector ON request_log (connector_id, seq);
-- Time windows across connectors, and pruning.
CREATE INDEX request_log_at ON request_log (at_ms);
-- Failures only: the dashboard counts a connector's recent ones from this small index alone
-- (`status` is in it so that SQLite need not read the table to check the condition).
-- Statements that mean to use it say `status >= 400` literally (a bound parameter would not
-- match the index's condition).
CREATE INDEX request_log_failures ON request_log (connector_id, at_ms, status)
WHERE status >= 400;
