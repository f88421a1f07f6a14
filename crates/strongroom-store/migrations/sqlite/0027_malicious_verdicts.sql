-- 0027: the index's own malicious-package verdicts (issue 13, OSV out). A release an
-- administrator rejected as malicious becomes one verdict, published as an OSV record in the
-- malicious-packages format under the index's prefix (`<osv.id_prefix>-<year>-<n>`). A
-- verdict is never erased: withdrawing it sets `withdrawn_at` and the record says withdrawn.
CREATE TABLE malicious_verdicts (
    id TEXT PRIMARY KEY,
    -- The project's name and the release's version as the index shows them.
    project TEXT NOT NULL,
    normalized_project TEXT NOT NULL,
    version TEXT NOT NULL,
    details TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- The administrator (or `cli:$USER`) who recorded it, as the event log names them.
    created_by TEXT NOT NULL,
    modified_at BIGINT NOT NULL,
    withdrawn_at BIGINT,
    withdrawn_reason TEXT
);
CREATE INDEX malicious_verdicts_release ON malicious_verdicts(normalized_project, version);
-- Every file of the release when the verdict was recorded, removed ones included: the record
-- names each file's sha256, so a lock file pinning any of them is caught.
CREATE TABLE malicious_verdict_files (
    verdict_id TEXT NOT NULL REFERENCES malicious_verdicts(id),
    filename TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (verdict_id, filename)
);
CREATE INDEX malicious_verdict_files_sha256 ON malicious_verdict_files(sha256);
-- The last number given per year (ids are `<prefix>-<year>-<n>`, n from 1 each year).
CREATE TABLE malicious_verdict_counters (
    year BIGINT PRIMARY KEY,
    last_number BIGINT NOT NULL
);
