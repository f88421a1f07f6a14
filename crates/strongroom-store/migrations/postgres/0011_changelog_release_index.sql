-- 0011: the public changelog looks up the release a journal entry names by its exact version
-- (as every writer records it), to hide entries of releases the public no longer sees.
CREATE INDEX releases_project_version ON releases(project_id, version);
