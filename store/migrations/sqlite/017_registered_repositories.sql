-- Pushes no longer register repositories: only the platform does (POST /v1/scms/{id}/repositories),
-- and a push to any other repository starts no build. The repositories that pushes registered
-- before (no owner, nobody who asked) become registered ones, held by the configuration's
-- project, so that an upgraded installation keeps building what it built.
UPDATE repositories
   SET owner = (SELECT project_key FROM scm_configs WHERE scm_configs.id = repositories.config_id),
       created_by = 'push before upgrade'
 WHERE owner = '' AND created_by = '';
