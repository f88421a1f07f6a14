-- 0025: admins' rules for upstream projects (issue 12) and the name watch.
-- A rule: `block` hides an upstream project (version '') or one version (canonical PEP 440
-- form) at once; `allow` serves it before the cooldown (upstream.min_age_days) ends. One rule of
-- each kind per project and version; a change replaces the reason.
CREATE TABLE upstream_rules (
    project TEXT NOT NULL,
    version TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('allow', 'block')),
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (project, kind, version)
);
-- The name watch: when each local or reserved name was last asked about at each upstream
-- (the name-conflict job), and when that upstream was first seen to have a project of that
-- name (found_at: signalled once per name and upstream, never again).
CREATE TABLE upstream_name_checks (
    name TEXT NOT NULL,
    upstream_url TEXT NOT NULL,
    checked_at BIGINT NOT NULL,
    found_at BIGINT,
    PRIMARY KEY (upstream_url, name)
);
