-- Which keys seal secrets is asked at every start (CheckKeys) and by key rotation: an index
-- answers from a few pages where a scan read every secret.
CREATE INDEX scm_secrets_key_id ON scm_secrets (key_id);
