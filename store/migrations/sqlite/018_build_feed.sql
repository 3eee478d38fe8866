-- The builds feed (GET /v1/builds) and the build hook's outbox (SCMADMIN_BUILD_HOOK_URL).
--
-- A build's seq is its place in the feed, taken from build_sequence's one row in the build's
-- own transaction (see Store.recordBuild): a build with a greater seq commits after every
-- build with a smaller one, so a follower that has seen seq N never meets a later commit
-- below N. Builds recorded before keep their id as their seq.
CREATE TABLE build_sequence (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
);
INSERT INTO build_sequence (id, n) SELECT 1, coalesce(max(id), 0) FROM builds;
ALTER TABLE builds ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
UPDATE builds SET seq = id;
CREATE UNIQUE INDEX builds_seq ON builds (seq);

-- Builds waiting to be POSTed to the build hook, written in the build's transaction while
-- the hook is configured, deleted once the target took them. They hold what the hook sends,
-- not a reference to the build: pruning a configuration's old builds, or deleting the
-- configuration, loses none. The head of each configuration (its least seq) goes first;
-- attempts and next_attempt_at are its backoff, leased_by and lease_until the server
-- delivering it.
CREATE TABLE build_hook_outbox (
    seq             INTEGER PRIMARY KEY,
    config_id       INTEGER NOT NULL,
    build_id        INTEGER NOT NULL,
    scm_ref         TEXT NOT NULL,
    repository      TEXT NOT NULL,
    commit_id       TEXT NOT NULL,
    actor           TEXT NOT NULL,
    via             TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    leased_by       TEXT,
    lease_until     TIMESTAMP
);
CREATE INDEX build_hook_outbox_config ON build_hook_outbox (config_id, seq);

-- Each configuration's failed attempts to hand a build to the hook, and the last one.
CREATE TABLE build_hook_failures (
    config_id INTEGER PRIMARY KEY,
    failures  INTEGER NOT NULL,
    failed_at TIMESTAMP NOT NULL,
    status    INTEGER NOT NULL, -- the target's HTTP status; 0 when it did not answer
    reason    TEXT NOT NULL
);
