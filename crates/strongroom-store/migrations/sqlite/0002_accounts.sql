-- 0002: accounts that resist takeover: sessions, second factors, single-use mail tokens,
-- short-lived auth states (login tickets, WebAuthn ceremonies), rate-limit hits and the mail outbox.
-- Secrets are stored as SHA-256 hashes (sessions, tokens, states) or Argon2 (recovery codes);
-- the TOTP seed must be readable to check codes.
ALTER TABLE users ADD COLUMN password_disabled TEXT;
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    secret_hash TEXT NOT NULL UNIQUE,
    user_id INTEGER NOT NULL REFERENCES users(id),
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    reauth_at INTEGER NOT NULL,
    two_factor_ok INTEGER NOT NULL DEFAULT 0,
    ip TEXT,
    user_agent TEXT,
    ended_at INTEGER
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE TABLE totp_secrets (
    user_id INTEGER PRIMARY KEY REFERENCES users(id),
    secret TEXT NOT NULL,
    last_used_step INTEGER,
    created_at INTEGER NOT NULL,
    enabled_at INTEGER
);
CREATE TABLE recovery_codes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id),
    code_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    burned_at INTEGER
);
CREATE INDEX recovery_codes_user ON recovery_codes(user_id);
CREATE TABLE webauthn_credentials (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id),
    credential_id TEXT NOT NULL UNIQUE,
    passkey TEXT NOT NULL,
    sign_count INTEGER NOT NULL DEFAULT 0,
    label TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    enabled_at INTEGER,
    last_used_at INTEGER,
    UNIQUE (user_id, label)
);
CREATE TABLE email_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT NOT NULL UNIQUE,
    user_id INTEGER NOT NULL REFERENCES users(id),
    email_id INTEGER,
    purpose TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);
CREATE INDEX email_tokens_user ON email_tokens(user_id);
CREATE TABLE auth_states (
    state_hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    user_id INTEGER,
    data TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE rate_hits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    bucket TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX rate_hits_bucket ON rate_hits(bucket, at);
CREATE TABLE known_logins (
    user_id INTEGER NOT NULL REFERENCES users(id),
    fingerprint TEXT NOT NULL,
    first_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, fingerprint)
);
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    to_addr TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    sent_at INTEGER,
    last_error TEXT
);
CREATE INDEX outbox_pending ON outbox(sent_at, next_attempt_at);
