-- 0017: repeated refusals are counted, not logged one by one (core::refusal_log). The first
-- refusal of a kind from one source (an account, a token, or an address for the anonymous) in
-- a window is appended to the event log and opens a row here; the rest only add to `count`;
-- when the window closes (the periodic job, or the next refusal after it) the row goes and,
-- when more than one refusal came, a `refusal:counted` event records the window's count. One
-- row per open window, so the state is bounded by the sources active in one window.
CREATE TABLE refusal_windows (
    bucket TEXT PRIMARY KEY,
    action TEXT NOT NULL,
    source TEXT NOT NULL,
    opened_at BIGINT NOT NULL,
    last_at BIGINT NOT NULL,
    count BIGINT NOT NULL,
    first_seq BIGINT NOT NULL
);
CREATE INDEX refusal_windows_opened ON refusal_windows(opened_at);
