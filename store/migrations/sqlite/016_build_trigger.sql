-- What started a build: a push delivered to the webhook receiver, or the platform's API call
-- (POST /v1/scms/{id}/builds, for build-via-API configurations). Builds so far came from pushes.
ALTER TABLE builds ADD COLUMN via TEXT NOT NULL DEFAULT 'push' CHECK (via IN ('push', 'api'));
