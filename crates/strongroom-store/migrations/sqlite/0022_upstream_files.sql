-- 0022: upstream files kept in the blob store (issue 12). One row per cached upstream file,
-- keyed by the sha256 its upstream advertised and strongroom checked; the row is written only
-- after the blob (`upstream/<aa>/<bb>/<rest>/<filename>`) is durable, settling the blob claim
-- in the same transaction (see core::blob_collector), and deleted by eviction before its blobs.
-- metadata_sha256 / has_metadata: the PEP 658 metadata file kept beside it (`<key>.metadata`).
CREATE TABLE upstream_files (
    sha256 TEXT PRIMARY KEY,
    blob_key TEXT NOT NULL UNIQUE,
    project TEXT NOT NULL,
    version TEXT NOT NULL,
    filename TEXT NOT NULL,
    size BIGINT NOT NULL,
    upstream_url TEXT NOT NULL,
    first_seen_at BIGINT NOT NULL,
    last_download_at BIGINT NOT NULL,
    metadata_sha256 TEXT,
    has_metadata BIGINT NOT NULL DEFAULT 0
);
-- Eviction takes the least recently downloaded first.
CREATE INDEX upstream_files_lru ON upstream_files (last_download_at);
