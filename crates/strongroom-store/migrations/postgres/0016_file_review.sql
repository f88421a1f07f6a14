-- 0016: per-file review and notices to Owners (issue 9, findings 2 and 5).
-- A file added to an existing release by a watched account (core::watch) is held for an
-- administrator's review: recorded with its blob, but invisible on every read path and absent
-- from the journal until approved; a rejected one is deleted (row and blob).
ALTER TABLE files ADD COLUMN held_at BIGINT;
ALTER TABLE files ADD COLUMN held_reason TEXT;
CREATE INDEX files_held ON files(held_at) WHERE held_at IS NOT NULL;
-- Notices to a project's Owners of added files, yanks and unyanks. The first of a project (per
-- recipient) is mailed at once (sent_at set, immediate = 1) and opens a window
-- (notices.digest_minutes); later ones inside it wait (sent_at NULL) for the job, which mails
-- them as one digest per recipient and project at the window's end.
CREATE TABLE owner_notices (
    id BIGSERIAL PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL,
    -- one line: what happened (who, what, which version or file)
    line TEXT NOT NULL,
    immediate INTEGER NOT NULL DEFAULT 0,
    sent_at BIGINT
);
CREATE INDEX owner_notices_window ON owner_notices(project_id, user_id, created_at);
CREATE INDEX owner_notices_pending ON owner_notices(sent_at, created_at);
