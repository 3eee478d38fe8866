-- SQLite's 013: one row that /healthz and start-up write to prove the database can be written.
CREATE TABLE heartbeat (
    id integer PRIMARY KEY CHECK (id = 1),
    at timestamptz NOT NULL
);
