-- 0010: invitation links to register (`accounts.registration = invite`). An administrator makes
-- one for one address; only the SHA-256 of the link's secret is stored. A link is single use
-- (`used_at`, set by a conditional UPDATE), expires (`expires_at`) and can be revoked
-- (`revoked_at`); the row stays as the record of who invited whom.
CREATE TABLE registration_invites (
    id BIGSERIAL PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    email_lower TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_by_id BIGINT REFERENCES users(id),
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    used_by_id BIGINT REFERENCES users(id),
    revoked_at BIGINT,
    revoked_by TEXT
);
CREATE INDEX registration_invites_email ON registration_invites(email_lower);
