-- 0015: watches that follow the people a watched account brings in, and dormancy judged only
-- from releases of accounts that were not watched (docs/ownership-contract.md, "Watched states").
-- `roles.watch_until`: a role granted by an account that was watched at that moment inherits its
-- watch until this time (NULL: none); the role's establishment clock starts only then.
ALTER TABLE roles ADD COLUMN watch_until BIGINT;
-- `releases.uploader_watched`: 1 when the account that created the release was watched on the
-- project at that moment; the dormant-project check ignores such releases.
ALTER TABLE releases ADD COLUMN uploader_watched BIGINT NOT NULL DEFAULT 0;
