-- 0004: ownership and incident response: roles with invitations and a cooling-off for
-- owner removals, recovery holds, soft deletion, quarantine, prohibited names, site switches.
ALTER TABLE users ADD COLUMN frozen_by TEXT;
-- Recovery hold: after a reset, an email change or a 2FA (re)enrolment the account may not
-- publish to projects it did not create, change owners or create tokens until hold_until.
ALTER TABLE users ADD COLUMN hold_until BIGINT;
ALTER TABLE users ADD COLUMN hold_reason TEXT;
-- The last recovery event: new releases of dormant projects by the account are quarantined
-- for a while after it.
ALTER TABLE users ADD COLUMN recovered_at BIGINT;
-- Soft deletion: personal data kept until purge_after for investigation, then purged.
ALTER TABLE users ADD COLUMN delete_reason TEXT;
ALTER TABLE users ADD COLUMN purge_after BIGINT;
ALTER TABLE users ADD COLUMN purged_at BIGINT;
-- Email domain checks (the ctx door).
ALTER TABLE emails ADD COLUMN domain_checked_at BIGINT;
ALTER TABLE emails ADD COLUMN unverified_at BIGINT;
ALTER TABLE emails ADD COLUMN unverified_reason TEXT;
-- projects.status: active | quarantined | removed. status_before is what "release" restores.
ALTER TABLE projects ADD COLUMN status_before TEXT;
ALTER TABLE projects ADD COLUMN status_reason TEXT;
ALTER TABLE projects ADD COLUMN status_changed_at BIGINT;
-- A release held for admin review (dormant project, recovered account): invisible until released.
ALTER TABLE releases ADD COLUMN quarantined_at BIGINT;
ALTER TABLE releases ADD COLUMN quarantine_reason TEXT;
ALTER TABLE releases ADD COLUMN removed_reason TEXT;
ALTER TABLE files ADD COLUMN removed_reason TEXT;
ALTER TABLE roles ADD COLUMN granted_by BIGINT;
-- What a mail token acts on beyond its account (the role change a veto link vetoes).
ALTER TABLE email_tokens ADD COLUMN subject_id BIGINT;
-- Names nobody may register (normalised and confusable forms), until an admin allows them.
CREATE TABLE prohibited_names (
    normalized_name TEXT PRIMARY KEY,
    ultranormalized_name TEXT NOT NULL,
    name TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL
);
CREATE INDEX prohibited_names_ultra ON prohibited_names(ultranormalized_name);
-- Site-wide switches (read_only, no_new_projects), shared by every server.
CREATE TABLE site_flags (
    name TEXT PRIMARY KEY,
    enabled BIGINT NOT NULL,
    reason TEXT,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL
);
-- Invitations to a role: bound to the invitee, expire, voided when the inviter loses the role.
-- status: pending | accepted | declined | revoked | expired | voided
CREATE TABLE role_invitations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id BIGINT NOT NULL REFERENCES projects(id),
    invitee_id BIGINT NOT NULL REFERENCES users(id),
    inviter_id BIGINT NOT NULL REFERENCES users(id),
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    ended_at BIGINT
);
CREATE INDEX role_invitations_invitee ON role_invitations(invitee_id, status);
CREATE INDEX role_invitations_project ON role_invitations(project_id, status);
CREATE UNIQUE INDEX role_invitations_one_pending ON role_invitations(project_id, invitee_id) WHERE status = 'pending';
-- Role changes held for the cooling-off period (a newcomer owner removing or demoting an older one).
-- kind: remove | demote; status: pending | applied | vetoed | approved | cancelled
CREATE TABLE role_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id BIGINT NOT NULL REFERENCES projects(id),
    target_id BIGINT NOT NULL REFERENCES users(id),
    actor_id BIGINT NOT NULL REFERENCES users(id),
    kind TEXT NOT NULL,
    new_role TEXT,
    created_at BIGINT NOT NULL,
    effective_at BIGINT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    ended_at BIGINT,
    ended_by TEXT
);
CREATE INDEX role_changes_project ON role_changes(project_id, status);
CREATE INDEX role_changes_due ON role_changes(status, effective_at);
