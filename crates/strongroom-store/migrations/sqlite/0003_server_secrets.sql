-- 0003: secrets every server of one installation must share (the web UI's signing key for
-- anonymous CSRF tokens): created once by whichever server starts first, then read by all.
CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
