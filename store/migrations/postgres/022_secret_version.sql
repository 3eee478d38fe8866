-- SQLite's 022: secrets get a data version of their own (made, rotated, re-sealed or deleted).
INSERT INTO data_versions (name, n) VALUES ('secrets', 0);
CREATE TRIGGER secrets_changed AFTER INSERT OR UPDATE OR DELETE ON scm_secrets
    FOR EACH ROW EXECUTE FUNCTION bump_data_version('secrets');
