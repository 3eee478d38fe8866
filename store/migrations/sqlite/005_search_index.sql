-- A trigram index over what the list's search looks in, so that a substring search reads
-- the index rather than every configuration. Triggers keep it in step with scm_configs.
CREATE VIRTUAL TABLE scm_search USING fts5(search_text, content='scm_configs', content_rowid='id', tokenize='trigram');
INSERT INTO scm_search (rowid, search_text) SELECT id, search_text FROM scm_configs;
CREATE TRIGGER scm_search_insert AFTER INSERT ON scm_configs BEGIN
    INSERT INTO scm_search (rowid, search_text) VALUES (new.id, new.search_text);
END;
CREATE TRIGGER scm_search_delete AFTER DELETE ON scm_configs BEGIN
    INSERT INTO scm_search (scm_search, rowid, search_text) VALUES ('delete', old.id, old.search_text);
END;
CREATE TRIGGER scm_search_update AFTER UPDATE OF search_text ON scm_configs BEGIN
    INSERT INTO scm_search (scm_search, rowid, search_text) VALUES ('delete', old.id, old.search_text);
    INSERT INTO scm_search (rowid, search_text) VALUES (new.id, new.search_text);
END;
