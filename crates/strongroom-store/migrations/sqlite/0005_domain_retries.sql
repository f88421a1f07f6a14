-- 0005: email-domain checks record every attempt. An attempt without an answer (timeout,
-- SERVFAIL, RDAP down) is retried at domain_retry_at with backoff (domain_failures in a row);
-- a DNS-only bad answer is a suspicion (domain_suspect_at/reason, the first sighting) that a
-- later round, some minutes on, must confirm before the address loses its verification.
ALTER TABLE emails ADD COLUMN domain_retry_at BIGINT;
ALTER TABLE emails ADD COLUMN domain_failures BIGINT NOT NULL DEFAULT 0;
ALTER TABLE emails ADD COLUMN domain_suspect_at BIGINT;
ALTER TABLE emails ADD COLUMN domain_suspect_reason TEXT;
