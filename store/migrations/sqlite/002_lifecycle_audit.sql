-- Algorithm repositories hosted in a configuration: while any exists, the configuration
-- cannot be deleted (RESTRICT backs the check the store makes first).
CREATE TABLE repositories (
    id         INTEGER PRIMARY KEY,
    config_id  INTEGER NOT NULL REFERENCES scm_configs (id) ON DELETE RESTRICT,
    slug       TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (config_id, slug)
);

-- The audit trail. No foreign key on config_id: history outlives what it describes, so the
-- configuration's name at the time is kept in target.
CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY,
    at          TIMESTAMP NOT NULL,
    actor       TEXT NOT NULL,
    remote_addr TEXT NOT NULL,
    action      TEXT NOT NULL,
    config_id   INTEGER,
    provider    TEXT NOT NULL DEFAULT '', -- the configuration's provider, which names its fields
    target      TEXT NOT NULL DEFAULT '',
    changes     TEXT NOT NULL DEFAULT '[]' -- JSON [{"field","from","to"}]; a secret only as "changed"
);
CREATE INDEX audit_events_config_id ON audit_events (config_id, id);

-- The list's sort orders, each ending in id so that pages are stable. scm_configs_created
-- duplicates the rowid order on purpose: it is far narrower than the table, so stepping over
-- the rows before a late page reads a few pages instead of every row.
CREATE INDEX scm_configs_created ON scm_configs (id);
CREATE INDEX scm_configs_provider ON scm_configs (provider, id);
CREATE INDEX scm_configs_website_url ON scm_configs (website_url, id);

-- How many configurations there are, kept by triggers: count(*) reads every row, and the
-- unfiltered list asks on every page view.
CREATE TABLE scm_config_count (n INTEGER NOT NULL);
INSERT INTO scm_config_count (n) SELECT count(*) FROM scm_configs;
CREATE TRIGGER scm_configs_counted AFTER INSERT ON scm_configs BEGIN UPDATE scm_config_count SET n = n + 1; END;
CREATE TRIGGER scm_configs_uncounted AFTER DELETE ON scm_configs BEGIN UPDATE scm_config_count SET n = n - 1; END;
