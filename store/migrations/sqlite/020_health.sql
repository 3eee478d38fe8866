-- Continuous health. Each connection test's result, the last 20 of each configuration (the
-- store prunes older ones in the same transaction): when, passed / warning / failing, the first
-- step that failed, and what the host told of its token's and certificate's expiry and of the
-- API rate limit left. failing_since is when the current run of failed tests began (NULL while
-- it passes): kept on the configuration, as a run may outlast the 20 results kept. It changes
-- only with last_test_at, which the configs version already counts.
ALTER TABLE scm_configs ADD COLUMN failing_since TIMESTAMP;
CREATE TABLE health_results (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    config_id        INTEGER NOT NULL REFERENCES scm_configs (id) ON DELETE CASCADE,
    at               TIMESTAMP NOT NULL,
    outcome          TEXT NOT NULL CHECK (outcome IN ('passed', 'warning', 'failing')),
    step             TEXT NOT NULL DEFAULT '',
    summary          TEXT NOT NULL DEFAULT '',
    token_expires_at TIMESTAMP,
    cert_expires_at  TIMESTAMP,
    rate_limit_left  INTEGER
);
CREATE INDEX health_results_config ON health_results (config_id, id);
-- Leases decide which of the servers sharing a database runs a background task (the
-- re-tests): the holder renews its lease before until_ms (Unix milliseconds); another server
-- takes it only once it has run out.
CREATE TABLE leases (
    name     TEXT PRIMARY KEY,
    holder   TEXT NOT NULL,
    until_ms INTEGER NOT NULL
);
