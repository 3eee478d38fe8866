-- SQLite's 017: the repositories that pushes registered before become registered ones.
UPDATE repositories
   SET owner = (SELECT project_key FROM scm_configs WHERE scm_configs.id = repositories.config_id),
       created_by = 'push before upgrade'
 WHERE owner = '' AND created_by = '';
