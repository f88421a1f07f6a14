-- 0002: accounts that resist takeover: sessions, second factors, single-use mail tokens,
-- short-lived auth states (login tickets, WebAuthn ceremonies), rate-limit hits and the mail outbox.
-- Secrets are stored as SHA-256 hashes (sessions, tokens, states) or Argon2 (recovery codes);
-- the TOTP seed must be readable to check codes.
ALTER TABLE users ADD COLUMN password_disabled TEXT;
CREATE TABLE sessions (
    id BIGSERIAL PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users(id),
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    reauth_at BIGINT NOT NULL,
    two_factor_ok BIGINT NOT NULL DEFAULT 0,
    ip TEXT,
    user_agent TEXT,
    ended_at BIGINT
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE TABLE totp_secrets (
    user_id BIGINT PRIMARY KEY REFERENCES users(id),
    secret TEXT NOT NULL,
    last_used_step BIGINT,
    created_at BIGINT NOT NULL,
    enabled_at BIGINT
);
CREATE TABLE recovery_codes (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    code_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    burned_at BIGINT
);
CREATE INDEX recovery_codes_user ON recovery_codes(user_id);
CREATE TABLE webauthn_credentials (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    credential_id TEXT NOT NULL UNIQUE,
    passkey TEXT NOT NULL,
    sign_count BIGINT NOT NULL DEFAULT 0,
    label TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    enabled_at BIGINT,
    last_used_at BIGINT,
    UNIQUE (user_id, label)
);
CREATE TABLE email_tokens (
    id BIGSERIAL PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users(id),
    email_id BIGINT,
    purpose TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX email_tokens_user ON email_tokens(user_id);
CREATE TABLE auth_states (
    state_hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    user_id BIGINT,
    data TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE TABLE rate_hits (
    id BIGSERIAL PRIMARY KEY,
    bucket TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX rate_hits_bucket ON rate_hits(bucket, at);
CREATE TABLE known_logins (
    user_id BIGINT NOT NULL REFERENCES users(id),
    fingerprint TEXT NOT NULL,
    first_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, fingerprint)
);
CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    to_addr TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    sent_at BIGINT,
    last_error TEXT
);
CREATE INDEX outbox_pending ON outbox(sent_at, next_attempt_at);
