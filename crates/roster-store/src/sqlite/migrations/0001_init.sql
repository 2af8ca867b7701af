-- Roster's SQLite schema, version 1: connectors, their tokens, and the IdP view.
--
-- Times are INTEGER unix milliseconds, so filters and sorts on meta.created / meta.lastModified
-- compare numbers. Case-insensitive values IdPs filter on are kept lowercased (by Rust's
-- Unicode to_lowercase, the filter evaluator's own folding) in `_lc` columns with indexes.
-- Every resource is scoped by connector_id; deleting a connector cascades to all of it.

CREATE TABLE connectors (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    enabled     INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    created_ms  INTEGER NOT NULL
) STRICT;

-- Tokens by their public id; only the SHA-256 of the secret is kept.
CREATE TABLE tokens (
    id            TEXT PRIMARY KEY NOT NULL,
    connector_id  TEXT NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
    hash          BLOB NOT NULL CHECK (length(hash) = 32),
    description   TEXT NOT NULL,
    created_ms    INTEGER NOT NULL,
    expires_ms    INTEGER,
    last_used_ms  INTEGER
) STRICT;
CREATE INDEX tokens_by_connector ON tokens (connector_id, created_ms);

-- SCIM users. `seq` is the creation order (stable paging); `body` is the resource as the IdP
-- wrote it (normalised), without id, meta, members and groups.
CREATE TABLE scim_users (
    seq              INTEGER PRIMARY KEY,
    connector_id     TEXT NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
    id               TEXT NOT NULL,
    version          INTEGER NOT NULL,
    created_ms       INTEGER NOT NULL,
    modified_ms      INTEGER NOT NULL,
    user_name_lc     TEXT,
    external_id      TEXT,
    display_name_lc  TEXT,
    body             TEXT NOT NULL,
    UNIQUE (connector_id, id)
) STRICT;
-- Entries of an index on (connector_id) are in rowid (= seq) order within a connector, so
-- listing in creation order walks this index without sorting.
CREATE INDEX scim_users_by_connector ON scim_users (connector_id);
CREATE UNIQUE INDEX scim_users_user_name ON scim_users (connector_id, user_name_lc);
CREATE INDEX scim_users_external_id ON scim_users (connector_id, external_id);
CREATE INDEX scim_users_display_name ON scim_users (connector_id, display_name_lc);

-- One row per email element of a user, for `emails.value eq` and
-- `emails[type eq "work"].value eq` lookups.
CREATE TABLE scim_user_emails (
    user_seq      INTEGER NOT NULL REFERENCES scim_users (seq) ON DELETE CASCADE,
    connector_id  TEXT NOT NULL,
    value_lc      TEXT,
    type_lc       TEXT
) STRICT;
CREATE INDEX scim_user_emails_value ON scim_user_emails (connector_id, value_lc);
CREATE INDEX scim_user_emails_user ON scim_user_emails (user_seq);

-- SCIM groups; `display_name` is what a user's `groups[].display` shows.
CREATE TABLE scim_groups (
    seq              INTEGER PRIMARY KEY,
    connector_id     TEXT NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
    id               TEXT NOT NULL,
    version          INTEGER NOT NULL,
    created_ms       INTEGER NOT NULL,
    modified_ms      INTEGER NOT NULL,
    display_name     TEXT,
    display_name_lc  TEXT,
    external_id      TEXT,
    body             TEXT NOT NULL,
    UNIQUE (connector_id, id)
) STRICT;
CREATE INDEX scim_groups_by_connector ON scim_groups (connector_id);
CREATE UNIQUE INDEX scim_groups_display_name ON scim_groups (connector_id, display_name_lc);
CREATE INDEX scim_groups_external_id ON scim_groups (connector_id, external_id);

-- Group memberships as rows: adding or removing k members costs O(k) whatever the group's
-- size. Clustered by group (WITHOUT ROWID), so a group's members are one range; the second
-- index finds a member's groups (it holds member_type so that the planner, which has no
-- statistics, never prefers scanning the connector's memberships for `member_type = ?`).
-- A member is a user or a group of the same connector.
CREATE TABLE scim_memberships (
    connector_id  TEXT NOT NULL,
    group_id      TEXT NOT NULL,
    member_id     TEXT NOT NULL,
    member_type   TEXT NOT NULL CHECK (member_type IN ('User', 'Group')),
    display       TEXT,
    PRIMARY KEY (connector_id, group_id, member_id),
    FOREIGN KEY (connector_id, group_id) REFERENCES scim_groups (connector_id, id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
CREATE INDEX scim_memberships_member ON scim_memberships (connector_id, member_id, member_type);
