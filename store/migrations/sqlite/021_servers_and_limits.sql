-- The running servers, each recording the key it has loaded (so that `scmadmin keys rotate`
-- waits for every one of them rather than for a guess), and the sign-in and API-key failure
-- counts that servers sharing a database count together.
CREATE TABLE servers (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    seen_at    TIMESTAMP NOT NULL,
    key_id     INTEGER NOT NULL
);
-- One row per thing that failed (an account's sign-ins, an address's sign-ins or API keys):
-- how many failures since started_at, the last at last_at. Counted by one upsert each.
CREATE TABLE failure_windows (
    key        TEXT PRIMARY KEY,
    started_at TIMESTAMP NOT NULL,
    last_at    TIMESTAMP NOT NULL,
    count      INTEGER NOT NULL
);
CREATE INDEX failure_windows_last_at ON failure_windows (last_at);
