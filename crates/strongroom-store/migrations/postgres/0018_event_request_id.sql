-- 0018: the request id (server::request_log) of the HTTP request that caused an event, so the
-- event log, the request's log line and the error page a user reports name the same request.
-- NULL for events from the CLI and the jobs, and for every event written before this migration
-- (the hash chain covers the id only when there is one, so older chains verify unchanged).
ALTER TABLE events ADD COLUMN request_id TEXT;
