-- Accounts a cluster admin manages from the users page: a disabled account cannot sign in,
-- and when it last did is shown beside it. Both are writes to users: migration 007's
-- users_updated trigger counts them, so the caches see a disabled account at once.
ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1));
ALTER TABLE users ADD COLUMN last_sign_in_at TIMESTAMP;

-- Whether the last connection test warned (it passed, but a step asks for attention). The
-- list and details page show it, so a change to it is a change of the configs version.
ALTER TABLE scm_configs ADD COLUMN last_test_warned INTEGER NOT NULL DEFAULT 0 CHECK (last_test_warned IN (0, 1));
DROP TRIGGER configs_updated;
CREATE TRIGGER configs_updated AFTER UPDATE OF provider, name, website_url, api_url, ssh_url, client_id, project_key,
    unique_key, enabled, is_default, updated_at, last_test_at, last_test_passed, last_test_summary, last_test_warned ON scm_configs
    BEGIN UPDATE data_versions SET n = n + 1 WHERE name = 'configs'; END;
