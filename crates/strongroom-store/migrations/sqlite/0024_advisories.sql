-- 0024: OSV advisories (issue 12). One row per (source, record, PyPI project) with the record as
-- strongroom reads it (`doc`, JSON of protocol::osv::Advisory); an import replaces a source's
-- rows (a snapshot). `advisory_hashes` indexes the file sha256s that live malicious records
-- name, to find local files; `advisory_holds` remembers the local releases an advisory
-- quarantined, so a retraction releases exactly those.
CREATE TABLE advisory_sources (
    name TEXT PRIMARY KEY,
    imported_at BIGINT NOT NULL,
    records BIGINT NOT NULL
);
CREATE TABLE advisories (
    source TEXT NOT NULL,
    id TEXT NOT NULL,
    project TEXT NOT NULL,
    malicious BIGINT NOT NULL,
    withdrawn BIGINT NOT NULL,
    doc TEXT NOT NULL,
    -- The record file's path in the feed: an import that cannot read that file keeps the row.
    path TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (source, id, project)
);
CREATE INDEX advisories_by_project ON advisories (project);
CREATE TABLE advisory_hashes (
    sha256 TEXT NOT NULL,
    source TEXT NOT NULL,
    id TEXT NOT NULL,
    project TEXT NOT NULL,
    PRIMARY KEY (sha256, source, id, project)
);
CREATE INDEX advisory_hashes_by_source ON advisory_hashes (source);
CREATE TABLE advisory_holds (
    release_id BIGINT PRIMARY KEY REFERENCES releases (id),
    source TEXT NOT NULL,
    id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    reason TEXT NOT NULL,
    held_at BIGINT NOT NULL
);
