-- OAuth connections: the round trip's single-use states, each account's token per
-- configuration (sealed under the key file, bound to account and configuration), and the
-- outcome of each configuration's last round trip, which its connection test reports.
CREATE TABLE oauth_states (
    state_hash   BLOB PRIMARY KEY,      -- SHA-256 of the state sent to the host
    session_hash BLOB NOT NULL,         -- the session that started it
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    config_id    INTEGER NOT NULL REFERENCES scm_configs (id) ON DELETE CASCADE,
    verifier     TEXT NOT NULL,         -- the PKCE code verifier: worthless without the code and the secret
    created_at   TIMESTAMP NOT NULL
) WITHOUT ROWID;

CREATE TABLE oauth_tokens (
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    config_id    INTEGER NOT NULL REFERENCES scm_configs (id) ON DELETE CASCADE,
    key_id       INTEGER NOT NULL,
    ciphertext   BLOB NOT NULL,         -- the token (access, refresh, expiry) as sealed JSON
    scm_username TEXT NOT NULL,
    scm_orgs     TEXT NOT NULL,         -- JSON: [{"username", "access_level"}]
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, config_id)
) WITHOUT ROWID;
CREATE INDEX oauth_tokens_config_id ON oauth_tokens (config_id);

ALTER TABLE scm_configs ADD COLUMN oauth_checked_at TIMESTAMP;
ALTER TABLE scm_configs ADD COLUMN oauth_check_ok INTEGER NOT NULL DEFAULT 0 CHECK (oauth_check_ok IN (0, 1));
ALTER TABLE scm_configs ADD COLUMN oauth_check_detail TEXT NOT NULL DEFAULT '';
ALTER TABLE scm_configs ADD COLUMN oauth_check_credentials TEXT NOT NULL DEFAULT '';
