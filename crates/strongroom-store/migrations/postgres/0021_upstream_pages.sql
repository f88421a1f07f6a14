-- 0021: the gateway's stored upstream project pages (issue 12) and the reserved names that were
-- asked for. A page is kept durably so installs keep working while its upstream is down; a
-- "not found" answer is kept too (found = 0, page NULL), for the TTL only.
CREATE TABLE upstream_pages (
    project TEXT PRIMARY KEY,
    upstream_url TEXT NOT NULL,
    found BIGINT NOT NULL,
    page TEXT,
    etag TEXT,
    fetched_at BIGINT NOT NULL,
    confirmed_at BIGINT NOT NULL,
    revision BIGINT NOT NULL
);
-- Names matching upstream.private_patterns that someone asked for (bounded by the gateway);
-- the name-conflict job asks the upstreams about them.
CREATE TABLE upstream_requested_names (
    name TEXT PRIMARY KEY,
    first_requested_at BIGINT NOT NULL
);
