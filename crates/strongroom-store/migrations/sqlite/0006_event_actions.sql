-- 0006: the admin area's "signals" list reads the newest events of a few actions (refused
-- attempts during a recovery hold, refused tokens, pending owner removals, quarantines, ...)
-- without scanning the whole log.
CREATE INDEX events_action ON events(action, seq);
