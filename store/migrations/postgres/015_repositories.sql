-- SQLite's 015: what the platform's repositories are on their host, and who asked for them.
ALTER TABLE repositories ADD COLUMN owner text NOT NULL DEFAULT '';
ALTER TABLE repositories ADD COLUMN https_url text NOT NULL DEFAULT '';
ALTER TABLE repositories ADD COLUMN ssh_url text NOT NULL DEFAULT '';
ALTER TABLE repositories ADD COLUMN created_by text NOT NULL DEFAULT '';
