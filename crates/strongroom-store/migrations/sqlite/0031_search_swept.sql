-- 0031: how far the search job has checked releases for a missing search row (a binary without
-- search, 0016 to 0018, may publish on this schema). Every release whose id is at most
-- `through_release_id` has its `release_search` row. Releases are never deleted and their ids
-- never reused, so the job reads only the releases past the mark instead of all of them at
-- every start.
CREATE TABLE search_swept (
    through_release_id BIGINT NOT NULL
);
INSERT INTO search_swept (through_release_id) VALUES (0);
