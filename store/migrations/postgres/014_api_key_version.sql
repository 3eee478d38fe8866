-- SQLite's 014: API keys get a data version of their own (made, revoked, or last use recorded).
INSERT INTO data_versions (name, n) VALUES ('apikeys', 0);
CREATE TRIGGER apikeys_changed AFTER INSERT OR UPDATE OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION bump_data_version('apikeys');
