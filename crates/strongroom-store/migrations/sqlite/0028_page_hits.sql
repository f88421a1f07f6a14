-- 0028: what the impact report counts beside the download log (issue 13; core::download_log
-- records, core::impact reads). `client_kind` is core::client_kind's word (pip, uv, poetry,
-- pdm, bandersnatch, mirror, browser, other); `day` is the µs of the UTC day's midnight.
--
-- `page_hits`: reads of a project's simple page and JSON API document per day and client
-- kind, counted in memory by the download recorder and added here at each flush.
CREATE TABLE page_hits (
    project TEXT NOT NULL,
    day BIGINT NOT NULL,
    client_kind TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (project, day, client_kind)
);
-- `download_kinds`: downloads per file per day and client kind, written in the same
-- transaction as the download log's rows they count, and kept past the retention period
-- (the download log keeps user agents for that period only). Downloads recorded before this
-- migration have no row here.
CREATE TABLE download_kinds (
    origin TEXT NOT NULL,
    project TEXT NOT NULL,
    version TEXT NOT NULL,
    filename TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    day BIGINT NOT NULL,
    client_kind TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (project, day, origin, filename, sha256, client_kind)
);
-- `download_addresses`: the distinct client addresses of each release's downloads per day,
-- counted by the retention job when it folds that day's rows (addresses themselves are not
-- kept past the retention period).
CREATE TABLE download_addresses (
    origin TEXT NOT NULL,
    project TEXT NOT NULL,
    version TEXT NOT NULL,
    day BIGINT NOT NULL,
    addresses BIGINT NOT NULL,
    PRIMARY KEY (project, day, origin, version)
);
