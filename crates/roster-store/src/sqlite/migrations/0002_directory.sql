-- Roster's SQLite schema, version 2: the application's directory (ordered directories, their
-- users, groups and memberships), connector settings, the audit log and sync results.
--
-- Names unique case-insensitively are kept folded (Rust's Unicode to_lowercase, the engine's
-- `fold_name`) in `_lc` columns under unique indexes. Directory users and groups have
-- AUTOINCREMENT ids, like the audit log's sequence: an id is never reused, so an audit row or a
-- change-feed consumer never confuses a deleted user with a later one.

-- The ordered sources of users: the built-in `internal` directory and one per connector, with
-- the connector's id, created and deleted with it. `position` orders them (the earliest wins a
-- username); gaps are allowed, ties broken by id.
CREATE TABLE directories (
    id            TEXT PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('internal', 'connector')),
    connector_id  TEXT UNIQUE REFERENCES connectors (id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    CHECK ((kind = 'internal') = (connector_id IS NULL)),
    CHECK (connector_id IS NULL OR connector_id = id)
) STRICT;

CREATE TRIGGER directories_keep_internal BEFORE DELETE ON directories
WHEN OLD.kind = 'internal'
BEGIN
    SELECT RAISE(ABORT, 'the internal directory cannot be deleted');
END;

INSERT INTO directories (id, name, kind, connector_id, position)
VALUES ('internal', 'Internal', 'internal', NULL, 0);
-- Connectors made before this version get their directory, after `internal`, oldest first.
-- Their IdP view is synced by the first `apply` (or by the IdP's next writes).
INSERT INTO directories (id, name, kind, connector_id, position)
SELECT id, name, 'connector', id, row_number() OVER (ORDER BY created_ms, id)
FROM connectors;

-- Directory users. `idp_id` links a synced user to its SCIM user (NULL for a local user); a
-- cleaned-up user records why and what was done (`cleanup_reason`, `cleanup_action`).
-- `attributes` is a JSON object of strings.
CREATE TABLE dir_users (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    directory_id    TEXT NOT NULL REFERENCES directories (id) ON DELETE CASCADE,
    username        TEXT NOT NULL,
    username_lc     TEXT NOT NULL,
    display_name    TEXT NOT NULL,
    email           TEXT,
    first_name      TEXT,
    last_name       TEXT,
    active          INTEGER NOT NULL CHECK (active IN (0, 1)),
    attributes      TEXT NOT NULL DEFAULT '{}',
    last_login_ms   INTEGER,
    idp_id          TEXT,
    cleanup_reason  TEXT CHECK (cleanup_reason IN ('deleted', 'not_in_required', 'dropped')),
    cleanup_action  TEXT CHECK (cleanup_action IN ('disable', 'delete', 'anonymize', 'keep')),
    anonymized      INTEGER NOT NULL DEFAULT 0 CHECK (anonymized IN (0, 1)),
    created_ms      INTEGER NOT NULL,
    modified_ms     INTEGER NOT NULL,
    CHECK ((cleanup_reason IS NULL) = (cleanup_action IS NULL))
) STRICT;
-- Unique username per directory, with the username first: the same index finds the holder of
-- a username in a directory (the sync), one username across directories (the effective user),
-- and lists users in username order. A second index led by the directory would cost every
-- user write one more page.
CREATE UNIQUE INDEX dir_users_username ON dir_users (username_lc, directory_id);
-- The user linked to a SCIM id (NULLs are distinct: any number of local users); also what
-- deleting a directory walks.
CREATE UNIQUE INDEX dir_users_idp ON dir_users (directory_id, idp_id);

-- Directory groups. `idp_id` links a group managed by the IdP to its SCIM group.
CREATE TABLE dir_groups (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    directory_id  TEXT NOT NULL REFERENCES directories (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    name_lc       TEXT NOT NULL,
    description   TEXT,
    idp_id        TEXT,
    created_ms    INTEGER NOT NULL,
    modified_ms   INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX dir_groups_name ON dir_groups (name_lc, directory_id);
CREATE UNIQUE INDEX dir_groups_idp ON dir_groups (directory_id, idp_id);

-- Memberships as rows, with their origin. A user's memberships are one range of the primary
-- key; a group's are one range of the second index (so deleting a group, which cascades, and
-- counting its members never scan other groups). User and group are of the same directory
-- (the store's invariant).
CREATE TABLE dir_memberships (
    user_id   INTEGER NOT NULL REFERENCES dir_users (id) ON DELETE CASCADE,
    group_id  INTEGER NOT NULL REFERENCES dir_groups (id) ON DELETE CASCADE,
    origin    TEXT NOT NULL CHECK (origin IN ('idp', 'local', 'rule', 'copied')),
    PRIMARY KEY (user_id, group_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX dir_memberships_group ON dir_memberships (group_id, user_id);

-- A connector's settings document (JSON, the shape of roster_core::settings::Settings). No row
-- means the defaults, version 0. Every change is also in the audit log, before and after.
CREATE TABLE connector_settings (
    connector_id  TEXT PRIMARY KEY NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
    version       INTEGER NOT NULL,
    document      TEXT NOT NULL,
    updated_ms    INTEGER NOT NULL
) STRICT;

-- The audit log: one row per directory change, in the transaction that made it. The history,
-- the base of the change feed (`seq > n`), and the outbox webhooks will deliver from. No
-- foreign keys: the history outlives connectors, users and groups. `before`, `after` and
-- `detail` are JSON.
CREATE TABLE audit_log (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms         INTEGER NOT NULL,
    connector_id  TEXT,
    directory_id  TEXT,
    actor         TEXT NOT NULL,
    request_id    TEXT,
    subject_kind  TEXT NOT NULL,
    subject_id    TEXT NOT NULL,
    subject_name  TEXT,
    action        TEXT NOT NULL,
    before        TEXT,
    after         TEXT,
    detail        TEXT
) STRICT;
CREATE INDEX audit_log_connector ON audit_log (connector_id, seq);

-- Sync results: counters per run (an hour of SCIM traffic, or one apply) ...
CREATE TABLE sync_runs (
    connector_id  TEXT NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
    started_ms    INTEGER NOT NULL,
    source        TEXT NOT NULL CHECK (source IN ('scim', 'apply')),
    last_ms       INTEGER NOT NULL,
    created       INTEGER NOT NULL DEFAULT 0,
    updated       INTEGER NOT NULL DEFAULT 0,
    unchanged     INTEGER NOT NULL DEFAULT 0,
    disabled      INTEGER NOT NULL DEFAULT 0,
    deleted       INTEGER NOT NULL DEFAULT 0,
    filtered      INTEGER NOT NULL DEFAULT 0,
    failed        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (connector_id, started_ms, source)
) STRICT, WITHOUT ROWID;

-- ... and the latest outcome of each SCIM user and group, with the reason when it failed.
CREATE TABLE sync_outcomes (
    connector_id  TEXT NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
    subject       TEXT NOT NULL CHECK (subject IN ('user', 'group')),
    scim_id       TEXT NOT NULL,
    name          TEXT,
    outcome       TEXT NOT NULL CHECK (outcome IN
                      ('created', 'updated', 'unchanged', 'disabled', 'deleted', 'filtered', 'failed')),
    reason        TEXT,
    warnings      TEXT,
    source        TEXT NOT NULL CHECK (source IN ('scim', 'apply')),
    at_ms         INTEGER NOT NULL,
    PRIMARY KEY (connector_id, subject, scim_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX sync_outcomes_by_outcome ON sync_outcomes (connector_id, outcome, at_ms);
