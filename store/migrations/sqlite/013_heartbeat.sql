-- One row that /healthz and start-up write to prove the database can be written (a full
-- disk or a read-only file reads fine).
CREATE TABLE heartbeat (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at TIMESTAMP NOT NULL
);
