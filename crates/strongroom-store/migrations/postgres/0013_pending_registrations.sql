-- 0013: verify-first registration. The registration form makes a pending registration, not an
-- account: it reserves the username (whether or not the address already has an account, so the
-- name's availability tells nothing about the address) until `expires_at`, and the account is
-- made from it only when the link mailed to the address is followed. Only the SHA-256 of the
-- link's secret is stored; a registration with a taken address gets a secret that is never sent.
-- `address` is the canonical form (core::email_address). Expired rows are purged by a job.
CREATE TABLE pending_registrations (
    id BIGSERIAL PRIMARY KEY,
    username TEXT NOT NULL,
    username_lower TEXT NOT NULL UNIQUE,
    address TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    invite_id BIGINT REFERENCES registration_invites(id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX pending_registrations_expiry ON pending_registrations(expires_at);
-- never-verified addresses expire (accounts.unverified_address_hours): found by age
CREATE INDEX emails_unverified_age ON emails(created_at) WHERE verified_at IS NULL;
