-- 0023: the download log (core::download_log): every download of a local or an upstream file,
-- written in batches by the recorder (never on the download path), so an admin can answer
-- "which of our machines installed ctx 0.2.2?". `origin` is 'local' or 'upstream'; `at` in
-- µs. Rows older than `downloads.retention_days` are folded by the retention job into
-- `download_counts` (one row per file per UTC day, addresses and user agents dropped) and
-- deleted, so client addresses are kept only for the retention period.
CREATE TABLE download_log (
    id BIGSERIAL PRIMARY KEY,
    origin TEXT NOT NULL,
    project TEXT NOT NULL,
    version TEXT NOT NULL,
    filename TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    at BIGINT NOT NULL,
    ip TEXT,
    user_agent TEXT
);
CREATE INDEX download_log_project_at ON download_log(project, at);
CREATE INDEX download_log_at ON download_log(at);
-- `day`: µs of the UTC day's midnight.
CREATE TABLE download_counts (
    origin TEXT NOT NULL,
    project TEXT NOT NULL,
    version TEXT NOT NULL,
    filename TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    day BIGINT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (project, day, origin, filename, sha256)
);
