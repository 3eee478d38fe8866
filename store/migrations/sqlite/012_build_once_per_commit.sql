-- A push builds once per (configuration, repository, commit), whatever its delivery id: a
-- signed body sent again with a new or no X-Request-Id is a replay, not a new push. Builds
-- already recorded twice keep their first.
DELETE FROM builds WHERE id NOT IN (SELECT min(id) FROM builds GROUP BY config_id, repository, commit_id);
CREATE UNIQUE INDEX builds_commit ON builds (config_id, repository, commit_id);
