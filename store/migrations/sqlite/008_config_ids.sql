-- A configuration's id as the pages, the routes and the JSON API name it: 'internal' for the
-- built-in one, the vanity id given when it was created through the API, otherwise its
-- number, so that every existing link keeps working. The integer id stays the key that other
-- tables refer to.
ALTER TABLE scm_configs ADD COLUMN ref TEXT;
UPDATE scm_configs SET ref = CASE WHEN id = 1 THEN 'internal' ELSE CAST(id AS TEXT) END;
CREATE UNIQUE INDEX scm_configs_ref ON scm_configs (ref);

-- Every id ever given, kept after its configuration is deleted: an id is never given again,
-- so that an old link or audit entry never comes to name another configuration.
CREATE TABLE scm_refs (ref TEXT PRIMARY KEY) WITHOUT ROWID;
INSERT INTO scm_refs (ref) SELECT ref FROM scm_configs;

-- The audit trail names a configuration by its id too, also once it is deleted.
ALTER TABLE audit_events ADD COLUMN config_ref TEXT NOT NULL DEFAULT '';
UPDATE audit_events SET config_ref = CASE WHEN config_id = 1 THEN 'internal' ELSE CAST(config_id AS TEXT) END
    WHERE config_id IS NOT NULL;
