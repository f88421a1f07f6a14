-- 0001: the index itself: accounts with tokens, projects, releases, files, journal, events.
-- Times are integer microseconds since the Unix epoch (UTC) in both databases.
CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    username TEXT NOT NULL,
    username_lower TEXT NOT NULL UNIQUE,
    password_hash TEXT,
    password_changed_at BIGINT,
    is_admin BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    last_login_at BIGINT,
    frozen_at BIGINT,
    frozen_reason TEXT,
    deleted_at BIGINT
);
CREATE TABLE emails (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    address TEXT NOT NULL,
    address_lower TEXT NOT NULL UNIQUE,
    is_primary BIGINT NOT NULL DEFAULT 0,
    verified_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX emails_user ON emails(user_id);
CREATE TABLE projects (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    normalized_name TEXT NOT NULL UNIQUE,
    ultranormalized_name TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    created_by BIGINT REFERENCES users(id),
    status TEXT NOT NULL DEFAULT 'active',
    last_serial BIGINT NOT NULL DEFAULT 0,
    total_size BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE api_tokens (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    project_id BIGINT REFERENCES projects(id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);
CREATE TABLE roles (
    project_id BIGINT NOT NULL REFERENCES projects(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    role TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX roles_user ON roles(user_id);
CREATE TABLE releases (
    id BIGSERIAL PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects(id),
    version TEXT NOT NULL,
    canonical_version TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    requires_python TEXT,
    core_metadata TEXT NOT NULL,
    yanked_at BIGINT,
    yanked_reason TEXT,
    removed_at BIGINT,
    UNIQUE (project_id, canonical_version)
);
CREATE TABLE files (
    id BIGSERIAL PRIMARY KEY,
    release_id BIGINT NOT NULL REFERENCES releases(id),
    project_id BIGINT NOT NULL REFERENCES projects(id),
    filename TEXT NOT NULL UNIQUE,
    packagetype TEXT NOT NULL,
    python_version TEXT NOT NULL,
    size BIGINT NOT NULL,
    md5 TEXT NOT NULL,
    sha256 TEXT NOT NULL UNIQUE,
    blake2_256 TEXT NOT NULL UNIQUE,
    blob_key TEXT NOT NULL UNIQUE,
    metadata_sha256 TEXT,
    metadata_blake2_256 TEXT,
    comment_text TEXT,
    uploaded_at BIGINT NOT NULL,
    uploaded_by BIGINT REFERENCES users(id),
    user_agent TEXT,
    removed_at BIGINT
);
CREATE INDEX files_release ON files(release_id);
CREATE INDEX files_project ON files(project_id);
CREATE UNIQUE INDEX files_one_sdist ON files(release_id) WHERE packagetype = 'sdist';
CREATE TABLE filename_registry (
    filename TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);
CREATE TABLE journal (
    serial BIGINT PRIMARY KEY,
    project_id BIGINT NOT NULL,
    project_name TEXT NOT NULL,
    version TEXT,
    filename TEXT,
    action TEXT NOT NULL,
    submitted_by TEXT,
    at BIGINT NOT NULL
);
CREATE INDEX journal_project ON journal(project_id, serial);
CREATE TABLE events (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor_id BIGINT,
    actor_name TEXT,
    action TEXT NOT NULL,
    subject_kind TEXT NOT NULL,
    subject_id BIGINT,
    subject_name TEXT,
    ip TEXT,
    user_agent TEXT,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX events_subject ON events(subject_kind, subject_id);
CREATE INDEX events_actor ON events(actor_id);
