-- SQLite's 021: the running servers and the failure counts, and one more thing PostgreSQL
-- alone needs: a notification on every commit that changes a data version, which the other
-- servers LISTEN for, so that their caches learn of the change at once.
CREATE TABLE servers (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    started_at timestamptz NOT NULL,
    seen_at    timestamptz NOT NULL,
    key_id     bigint NOT NULL
);
CREATE TABLE failure_windows (
    key        text PRIMARY KEY,
    started_at timestamptz NOT NULL,
    last_at    timestamptz NOT NULL,
    count      integer NOT NULL
);
CREATE INDEX failure_windows_last_at ON failure_windows (last_at);
-- Sent at commit, once per transaction (PostgreSQL folds equal notifications together).
CREATE FUNCTION notify_data_versions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('scmadmin_changes', '');
    RETURN NULL;
END $$;
CREATE TRIGGER data_versions_notify AFTER UPDATE ON data_versions
    FOR EACH STATEMENT EXECUTE FUNCTION notify_data_versions();
