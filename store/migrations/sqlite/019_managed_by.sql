-- SQLite's 019: the configuration file that manages a configuration (scmadmin apply -f FILE,
-- SCMADMIN_CONFIG_FILE), as its absolute path; '' for one the pages and the API manage.
ALTER TABLE scm_configs ADD COLUMN managed_by TEXT NOT NULL DEFAULT '';
