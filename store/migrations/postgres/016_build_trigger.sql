-- SQLite's 016: what started a build, a push or the platform's API call.
ALTER TABLE builds ADD COLUMN via text NOT NULL DEFAULT 'push' CHECK (via IN ('push', 'api'));
