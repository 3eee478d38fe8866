-- Algorithm repositories the platform creates through scmadmin (POST /v1/scms/{id}/repositories):
-- slug is the repository's name on the host, owner who holds it there (the Bitbucket project
-- key, or the account, organisation, group or workspace), the clone URLs the host gave, and
-- who asked for it. Rows that pushes added before keep empty values.
ALTER TABLE repositories ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE repositories ADD COLUMN https_url TEXT NOT NULL DEFAULT '';
ALTER TABLE repositories ADD COLUMN ssh_url TEXT NOT NULL DEFAULT '';
ALTER TABLE repositories ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
