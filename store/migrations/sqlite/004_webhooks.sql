-- Build-on-checkin webhooks (Bitbucket Server).
ALTER TABLE scm_configs ADD COLUMN webhook_failures INTEGER NOT NULL DEFAULT 0; -- deliveries refused for their signature
ALTER TABLE scm_configs ADD COLUMN webhook_installed_at TIMESTAMP;              -- when "Install webhook" last succeeded

-- Every delivery that reached a configuration, and what became of it. Bodies are never kept.
CREATE TABLE webhook_deliveries (
    id          INTEGER PRIMARY KEY,
    config_id   INTEGER NOT NULL REFERENCES scm_configs (id) ON DELETE CASCADE,
    request_id  TEXT NOT NULL DEFAULT '',
    event       TEXT NOT NULL DEFAULT '',
    result      TEXT NOT NULL,  -- accepted, duplicate, ignored, refused
    status      INTEGER NOT NULL,
    reason      TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL
);
CREATE INDEX webhook_deliveries_config_id ON webhook_deliveries (config_id, id);

-- One build per push to master. A delivery Bitbucket sends again (same X-Request-Id) finds
-- its build already there.
CREATE TABLE builds (
    id          INTEGER PRIMARY KEY,
    config_id   INTEGER NOT NULL REFERENCES scm_configs (id) ON DELETE CASCADE,
    request_id  TEXT NOT NULL DEFAULT '',
    project_key TEXT NOT NULL,
    repository  TEXT NOT NULL,
    commit_id   TEXT NOT NULL,
    actor       TEXT NOT NULL,
    pushed_at   TIMESTAMP NOT NULL,
    created_at  TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX builds_request_id ON builds (config_id, request_id) WHERE request_id != '';
CREATE INDEX builds_config_id ON builds (config_id, id);
