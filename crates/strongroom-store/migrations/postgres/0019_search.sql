-- 0019: full-text search over each release's project name, summary and description. The text is
-- taken from the release's core metadata at publish (store::search), one row per release; who may
-- see a match is decided when searching, by the same public filters every other read uses
-- (store::visibility), so a quarantine, a removal or a hold never has to touch this index.
CREATE TABLE release_search (
    release_id BIGINT PRIMARY KEY REFERENCES releases(id),
    project_id BIGINT NOT NULL REFERENCES projects(id),
    name TEXT NOT NULL,
    summary TEXT NOT NULL,
    description TEXT NOT NULL,
    -- PostgreSQL only: the weighted document, computed once when the row is written (never per
    -- row at query time: to_tsvector over a description costs milliseconds). store::search
    -- matches and ranks on this column. At most 8192 characters of a description are indexed
    -- (store::search cuts it to that before the insert as well).
    document tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english'::regconfig, name), 'A')
        || setweight(to_tsvector('english'::regconfig, summary), 'B')
        || setweight(to_tsvector('english'::regconfig, left(description, 8192)), 'C')
    ) STORED
);
CREATE INDEX release_search_project ON release_search(project_id);
-- PostgreSQL: a GIN index over the stored document (store::search's `s.document @@ ...`).
CREATE INDEX release_search_document ON release_search USING GIN (document);
