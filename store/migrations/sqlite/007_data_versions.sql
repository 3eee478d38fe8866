-- Counters that change with every committed write to what they name, whoever writes: this
-- server, another one, or the scmadmin commands. The web layer's caches hold what they read
-- while the counter they depend on is unchanged, so they are exact without expiring.
--   configs:  what pages show of configurations (their rows and how many repositories each hosts)
--   users:    accounts
--   sessions: sign-in sessions
CREATE TABLE data_versions (
    name TEXT PRIMARY KEY,
    n    INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO data_versions (name, n) VALUES ('configs', 0), ('users', 0), ('sessions', 0);

-- webhook_failures counts refused deliveries, which anyone can send: it changes no page's
-- list, so it bumps nothing.
CREATE TRIGGER configs_inserted AFTER INSERT ON scm_configs BEGIN UPDATE data_versions SET n = n + 1 WHERE name = 'configs'; END;
CREATE TRIGGER configs_deleted AFTER DELETE ON scm_configs BEGIN UPDATE data_versions SET n = n + 1 WHERE name = 'configs'; END;
CREATE TRIGGER configs_updated AFTER UPDATE OF provider, name, website_url, api_url, ssh_url, client_id, project_key,
    unique_key, enabled, is_default, updated_at, last_test_at, last_test_passed, last_test_summary ON scm_configs
    BEGIN UPDATE data_versions SET n = n + 1 WHERE name = 'configs'; END;
CREATE TRIGGER repositories_inserted AFTER INSERT ON repositories BEGIN UPDATE data_versions SET n = n + 1 WHERE name = 'configs'; END;
CREATE TRIGGER repositories_deleted AFTER DELETE ON repositories BEGIN UPDATE data_versions SET n = n + 1 WHERE name = 'configs'; END;

CREATE TRIGGER users_inserted AFTER INSERT ON users BEGIN UPDATE data_versions SET n = n + 1 WHERE name = 'users'; END;
CREATE TRIGGER users_updated AFTER UPDATE ON users BEGIN UPDATE data_versions SET n = n + 1 WHERE name = 'users'; END;
CREATE TRIGGER users_deleted AFTER DELETE ON users BEGIN UPDATE data_versions SET n = n + 1 WHERE name = 'users'; END;

CREATE TRIGGER sessions_inserted AFTER INSERT ON sessions BEGIN UPDATE data_versions SET n = n + 1 WHERE name = 'sessions'; END;
CREATE TRIGGER sessions_updated AFTER UPDATE ON sessions BEGIN UPDATE data_versions SET n = n + 1 WHERE name = 'sessions'; END;
CREATE TRIGGER sessions_deleted AFTER DELETE ON sessions BEGIN UPDATE data_versions SET n = n + 1 WHERE name = 'sessions'; END;
