-- Users who may sign in; only cluster admins (is_admin = 1) reach /admin.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    is_admin      INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);

-- Server-side sessions: the cookie holds a random token, the table only its SHA-256,
-- so deleting a row really ends the session and a copy of the database opens none.
CREATE TABLE sessions (
    token_hash   BLOB PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    data         BLOB NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_user_id ON sessions (user_id);

-- AUTOINCREMENT: a deleted configuration's id is never reused, so its audit history and
-- links never come to describe another one.
CREATE TABLE scm_configs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    provider    TEXT NOT NULL,
    name        TEXT NOT NULL DEFAULT '',
    website_url TEXT NOT NULL DEFAULT '',
    api_url     TEXT NOT NULL DEFAULT '',
    ssh_url     TEXT NOT NULL DEFAULT '',
    client_id   TEXT NOT NULL DEFAULT '',
    project_key TEXT NOT NULL DEFAULT '',
    -- The provider catalog's identity of a configuration (normalised URL plus project key or
    -- client id); the unique index makes two simultaneous creates of the same one impossible.
    unique_key  TEXT NOT NULL UNIQUE,
    -- What the list's search looks in (name, URL, client id, project key), lower-cased in Go:
    -- SQLite's LIKE folds only ASCII.
    search_text TEXT NOT NULL DEFAULT '',
    enabled     INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    is_default  INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    CHECK (is_default = 0 OR enabled = 1)
);
CREATE UNIQUE INDEX scm_configs_one_default ON scm_configs (is_default) WHERE is_default = 1;

-- Encrypted secrets of a configuration, one row per secret field (AES-256-GCM; the
-- additional data binds each ciphertext to its configuration id and field name).
CREATE TABLE scm_secrets (
    config_id   INTEGER NOT NULL REFERENCES scm_configs (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    key_id      INTEGER NOT NULL,
    ciphertext  BLOB NOT NULL,
    fingerprint TEXT NOT NULL,
    set_at      TIMESTAMP NOT NULL,
    PRIMARY KEY (config_id, name)
) WITHOUT ROWID;

-- The built-in configuration always exists and is the default on a fresh install.
INSERT INTO scm_configs (id, provider, name, unique_key, enabled, is_default, created_at, updated_at)
VALUES (1, 'internal', '', 'internal', 1, 1, strftime('%Y-%m-%d %H:%M:%f', 'now'), strftime('%Y-%m-%d %H:%M:%f', 'now'));
