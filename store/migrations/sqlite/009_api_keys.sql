-- API keys for the JSON API. A key is scm_<public id>_<secret>: the public id finds the row,
-- and only the key's SHA-256 is kept, so a copy of the database opens no API. A key acts as
-- the cluster admin who made it. Names are never reused, revoked keys included, so that the
-- audit trail's "api key NAME" always means one key.
CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE COLLATE NOCASE,
    public_id    TEXT NOT NULL UNIQUE,
    key_hash     BLOB NOT NULL,
    scope        TEXT NOT NULL CHECK (scope IN ('read', 'admin')),
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP, -- written at most once a minute per key
    revoked_at   TIMESTAMP
);
-- Deleting a user deletes its keys: the foreign key's check reads this index, not the table.
CREATE INDEX api_keys_user_id ON api_keys (user_id);
