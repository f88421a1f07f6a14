-- 0001: the index itself: accounts with tokens, projects, releases, files, journal, events.
-- Times are integer microseconds since the Unix epoch (UTC) in both databases.
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL,
    username_lower TEXT NOT NULL UNIQUE,
    password_hash TEXT,
    password_changed_at INTEGER,
    is_admin INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    last_login_at INTEGER,
    frozen_at INTEGER,
    frozen_reason TEXT,
    deleted_at INTEGER
);
CREATE TABLE emails (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id),
    address TEXT NOT NULL,
    address_lower TEXT NOT NULL UNIQUE,
    is_primary INTEGER NOT NULL DEFAULT 0,
    verified_at INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX emails_user ON emails(user_id);
CREATE TABLE projects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    normalized_name TEXT NOT NULL UNIQUE,
    ultranormalized_name TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    created_by INTEGER REFERENCES users(id),
    status TEXT NOT NULL DEFAULT 'active',
    last_serial INTEGER NOT NULL DEFAULT 0,
    total_size INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    project_id INTEGER REFERENCES projects(id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    last_used_at INTEGER,
    revoked_at INTEGER
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);
CREATE TABLE roles (
    project_id INTEGER NOT NULL REFERENCES projects(id),
    user_id INTEGER NOT NULL REFERENCES users(id),
    role TEXT NOT NULL,
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX roles_user ON roles(user_id);
CREATE TABLE releases (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    version TEXT NOT NULL,
    canonical_version TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    requires_python TEXT,
    core_metadata TEXT NOT NULL,
    yanked_at INTEGER,
    yanked_reason TEXT,
    removed_at INTEGER,
    UNIQUE (project_id, canonical_version)
);
CREATE TABLE files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    release_id INTEGER NOT NULL REFERENCES releases(id),
    project_id INTEGER NOT NULL REFERENCES projects(id),
    filename TEXT NOT NULL UNIQUE,
    packagetype TEXT NOT NULL,
    python_version TEXT NOT NULL,
    size INTEGER NOT NULL,
    md5 TEXT NOT NULL,
    sha256 TEXT NOT NULL UNIQUE,
    blake2_256 TEXT NOT NULL UNIQUE,
    blob_key TEXT NOT NULL UNIQUE,
    metadata_sha256 TEXT,
    metadata_blake2_256 TEXT,
    comment_text TEXT,
    uploaded_at INTEGER NOT NULL,
    uploaded_by INTEGER REFERENCES users(id),
    user_agent TEXT,
    removed_at INTEGER
);
CREATE INDEX files_release ON files(release_id);
CREATE INDEX files_project ON files(project_id);
CREATE UNIQUE INDEX files_one_sdist ON files(release_id) WHERE packagetype = 'sdist';
CREATE TABLE filename_registry (
    filename TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL
);
CREATE TABLE journal (
    serial INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL,
    project_name TEXT NOT NULL,
    version TEXT,
    filename TEXT,
    action TEXT NOT NULL,
    submitted_by TEXT,
    at INTEGER NOT NULL
);
CREATE INDEX journal_project ON journal(project_id, serial);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    actor_id INTEGER,
    actor_name TEXT,
    action TEXT NOT NULL,
    subject_kind TEXT NOT NULL,
    subject_id INTEGER,
    subject_name TEXT,
    ip TEXT,
    user_agent TEXT,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX events_subject ON events(subject_kind, subject_id);
CREATE INDEX events_actor ON events(actor_id);
