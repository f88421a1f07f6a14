-- 0030: PEP 658 metadata kept for an upstream file that is not kept itself (a resolver read the
-- metadata and never downloaded the file). One row per file sha256; the metadata blob is at
-- `<blob_key>.metadata`, the key the file gets when it is kept. Written after that blob is
-- durable, settling the blob claim in the same transaction; when the file is kept, its
-- upstream_files row takes the metadata over and this row goes, in the keep's transaction, so a
-- key has a row in at most one of the two tables. Evicted with the files, least recently
-- downloaded first.
CREATE TABLE upstream_metadata (
    sha256 TEXT PRIMARY KEY,
    blob_key TEXT NOT NULL UNIQUE,
    project TEXT NOT NULL,
    filename TEXT NOT NULL,
    metadata_sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    first_seen_at BIGINT NOT NULL,
    last_download_at BIGINT NOT NULL
);
CREATE INDEX upstream_metadata_lru ON upstream_metadata (last_download_at);
