-- 0019: full-text search over each release's project name, summary and description. The text is
-- taken from the release's core metadata at publish (store::search), one row per release; who may
-- see a match is decided when searching, by the same public filters every other read uses
-- (store::visibility), so a quarantine, a removal or a hold never has to touch this index.
CREATE TABLE release_search (
    release_id INTEGER PRIMARY KEY REFERENCES releases(id),
    project_id INTEGER NOT NULL REFERENCES projects(id),
    name TEXT NOT NULL,
    summary TEXT NOT NULL,
    description TEXT NOT NULL
);
CREATE INDEX release_search_project ON release_search(project_id);
-- SQLite: an FTS5 index over release_search's text (external content), filled by a trigger.
-- release_search rows are only ever inserted (releases are never deleted; their text never changes).
CREATE VIRTUAL TABLE release_search_fts USING fts5(
    name, summary, description,
    content='release_search', content_rowid='release_id', tokenize='porter unicode61'
);
CREATE TRIGGER release_search_ai AFTER INSERT ON release_search BEGIN
    INSERT INTO release_search_fts(rowid, name, summary, description)
    VALUES (new.release_id, new.name, new.summary, new.description);
END;
-- a match in the name weighs most, then the summary, then the description
INSERT INTO release_search_fts(release_search_fts, rank) VALUES ('rank', 'bm25(10.0, 4.0, 1.0)');
