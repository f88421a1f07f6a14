-- 0021: the gateway's stored upstream project pages (issue 12) and the reserved names that were
-- asked for. A page is kept durably so installs keep working while its upstream is down; a
-- "not found" answer is kept too (found = 0, page NULL), for the TTL only, unless the upstream had
-- answered for the name before (bound = 1): then it is a tombstone that keeps the name bound to
-- that upstream (a later 404 there is never a walk to the next upstream). The revision is
-- time-derived and strictly increasing per project, so it never repeats even after a row is
-- deleted and stored again. last_used_at moves at most once per period when the page is served;
-- the eviction job removes pages not served for long and the least recently used past a cap.
CREATE TABLE upstream_pages (
    project TEXT PRIMARY KEY,
    upstream_url TEXT NOT NULL,
    found INTEGER NOT NULL,
    page TEXT,
    etag TEXT,
    fetched_at INTEGER NOT NULL,
    confirmed_at INTEGER NOT NULL,
    revision INTEGER NOT NULL,
    bound INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    page_bytes INTEGER NOT NULL
);
CREATE INDEX upstream_pages_last_used ON upstream_pages (last_used_at);
-- Names matching upstream.private_patterns that someone asked for (bounded by the gateway);
-- the name-conflict job asks the upstreams about them.
CREATE TABLE upstream_requested_names (
    name TEXT PRIMARY KEY,
    first_requested_at INTEGER NOT NULL
);
