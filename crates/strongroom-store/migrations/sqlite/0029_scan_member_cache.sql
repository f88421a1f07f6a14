-- 0029: the scanner's per-member results remembered by content (issue 13's cost bar;
-- core::scan_cache decides, store::scan_cache keeps). `key` is the hex sha256 of the scanner's
-- rules version, the member's role and path, and the member's bytes: a new release sharing most
-- files with the previous one analyses only the changed ones. `result` is the JSON of what
-- scanning exactly those bytes gave (capabilities and findings); nothing an uploader sends is
-- stored under a key it did not hash to, so the table cannot be poisoned. `used_at` (µs) orders
-- the pruning: the table holds at most core's row bound, the least recently used rows go first.
CREATE TABLE scan_member_cache (
    key TEXT PRIMARY KEY,
    result TEXT NOT NULL,
    used_at BIGINT NOT NULL
);
CREATE INDEX scan_member_cache_used ON scan_member_cache (used_at);
