-- 0026: the content scanner's verdict on each uploaded file (issue 13). One row per file,
-- written in the upload's transaction: `scan` is the scanner's JSON (capabilities per member,
-- findings with rule, path, line and snippet), `score` what core made of it (base score plus
-- new capabilities against the previous release, a dormant project, a watched uploader),
-- `scanner_version` the scanner that made it. Rows go with their file (the store deletes a
-- file's scan where it deletes the file: a rejected held file).
CREATE TABLE file_scans (
    file_id BIGINT PRIMARY KEY,
    scanner_version BIGINT NOT NULL,
    scan TEXT NOT NULL,
    score BIGINT NOT NULL,
    -- The capability diff against the previous release (JSON), when there was one.
    diff TEXT,
    -- Why core held the file or its release for review, when it did.
    held_reason TEXT,
    scanned_at BIGINT NOT NULL
);
