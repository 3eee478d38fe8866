-- SQLite's 018: the builds feed's order (seq, from one counter row taken in the build's
-- transaction) and the build hook's outbox.
CREATE TABLE build_sequence (
    id integer PRIMARY KEY CHECK (id = 1),
    n  bigint NOT NULL
);
INSERT INTO build_sequence (id, n) SELECT 1, coalesce(max(id), 0) FROM builds;
ALTER TABLE builds ADD COLUMN seq bigint NOT NULL DEFAULT 0;
UPDATE builds SET seq = id;
CREATE UNIQUE INDEX builds_seq ON builds (seq);

CREATE TABLE build_hook_outbox (
    seq             bigint PRIMARY KEY,
    config_id       bigint NOT NULL,
    build_id        bigint NOT NULL,
    scm_ref         text NOT NULL,
    repository      text NOT NULL,
    commit_id       text NOT NULL,
    actor           text NOT NULL,
    via             text NOT NULL,
    created_at      timestamptz NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    leased_by       text,
    lease_until     timestamptz
);
CREATE INDEX build_hook_outbox_config ON build_hook_outbox (config_id, seq);

CREATE TABLE build_hook_failures (
    config_id bigint PRIMARY KEY,
    failures  bigint NOT NULL,
    failed_at timestamptz NOT NULL,
    status    integer NOT NULL,
    reason    text NOT NULL
);
