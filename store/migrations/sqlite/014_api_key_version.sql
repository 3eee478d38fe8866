-- API keys get a data version of their own, so that the server can keep the keys it checked
-- in memory while no key changes (made, revoked, or its last use recorded).
INSERT INTO data_versions (name, n) VALUES ('apikeys', 0);
CREATE TRIGGER apikeys_inserted AFTER INSERT ON api_keys BEGIN UPDATE data_versions SET n = n + 1 WHERE name = 'apikeys'; END;
CREATE TRIGGER apikeys_updated AFTER UPDATE ON api_keys BEGIN UPDATE data_versions SET n = n + 1 WHERE name = 'apikeys'; END;
CREATE TRIGGER apikeys_deleted AFTER DELETE ON api_keys BEGIN UPDATE data_versions SET n = n + 1 WHERE name = 'apikeys'; END;
