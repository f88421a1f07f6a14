-- 0008: blobs are written before the row that makes them visible, and the two cannot commit
-- together. An upload records a claim on its blob key (the `.metadata` sibling goes with it)
-- and commits it before the put; the publish transaction settles it (deletes it, the file row
-- now protecting the blob); a refused or failed upload releases it. The collector
-- (core::blob_collector) deletes a blob only when no file row references it and no live claim
-- protects it, announcing each deletion in blob_deletions so that a new claim on the same key
-- waits until the delete is done.
CREATE TABLE blob_claims (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    blob_key TEXT NOT NULL,
    claimed_at INTEGER NOT NULL
);
CREATE INDEX blob_claims_key ON blob_claims(blob_key);
CREATE INDEX blob_claims_at ON blob_claims(claimed_at);
CREATE TABLE blob_deletions (
    blob_key TEXT PRIMARY KEY,
    started_at INTEGER NOT NULL
);
