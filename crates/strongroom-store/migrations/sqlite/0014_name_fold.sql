-- 0014: which fold of confusable names the stored skeletons (`ultranormalized_name` of projects
-- and prohibited names) were made with: `store::skeletons` re-folds them once when the code's
-- fold is newer, instead of reading every name at every start.
CREATE TABLE name_fold (version BIGINT NOT NULL);
INSERT INTO name_fold (version) VALUES (0);
