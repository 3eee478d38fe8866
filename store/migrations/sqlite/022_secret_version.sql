-- Secrets get a data version of their own, so that the server can keep a configuration's
-- opened webhook secrets in memory, to check deliveries against, while none of them changes
-- (made, rotated, re-sealed under a new key, or deleted with the configuration).
INSERT INTO data_versions (name, n) VALUES ('secrets', 0);
CREATE TRIGGER secrets_inserted AFTER INSERT ON scm_secrets BEGIN UPDATE data_versions SET n = n + 1 WHERE name = 'secrets'; END;
CREATE TRIGGER secrets_updated AFTER UPDATE ON scm_secrets BEGIN UPDATE data_versions SET n = n + 1 WHERE name = 'secrets'; END;
CREATE TRIGGER secrets_deleted AFTER DELETE ON scm_secrets BEGIN UPDATE data_versions SET n = n + 1 WHERE name = 'secrets'; END;
