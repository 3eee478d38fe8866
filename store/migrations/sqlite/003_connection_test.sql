-- The last connection test of each configuration, shown in the list and on its details page.
ALTER TABLE scm_configs ADD COLUMN last_test_at TIMESTAMP;
ALTER TABLE scm_configs ADD COLUMN last_test_passed INTEGER NOT NULL DEFAULT 0 CHECK (last_test_passed IN (0, 1));
-- "passed", or the title of the first step that failed.
ALTER TABLE scm_configs ADD COLUMN last_test_summary TEXT NOT NULL DEFAULT '';
