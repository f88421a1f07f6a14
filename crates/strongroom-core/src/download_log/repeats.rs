//! The download log's repeat filter: one client address asking for one file again and again
//! within [`WINDOW`] is one download, not a row per request (RT12 F11: an anonymous client
//! could otherwise insert rows at will, growing the database for the retention period and
//! padding the "who installed X" evidence). Within a window a (client address, file) pair is
//! recorded once per user agent, for at most [`AGENTS_PER_WINDOW`] user agents (so pip and uv
//! installing on one machine are both on record); everything else in the window is counted,
//! not recorded.
//!
//! Memory is bounded: at most [`TRACKED`] pairs are remembered, as keyed 64-bit hashes (the
//! key is random per process). When the map is full the oldest window is forgotten first; a
//! forgotten pair is recorded again, so the bound can cost a duplicate row, never a download.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;

use strongroom_store::download_log::DownloadRecord;

/// How long a (client address, file) pair's window lasts (µs): 60 s.
pub const WINDOW: i64 = 60_000_000;
/// User agents recorded per pair and window at most.
pub const AGENTS_PER_WINDOW: usize = 4;
/// Pairs remembered at most.
pub const TRACKED: usize = 65_536;

#[derive(Debug)]
struct Window {
    start: i64,
    agents: Vec<u64>,
}

/// Remembers which (client address, file) pairs were recorded recently.
#[derive(Debug)]
pub(super) struct Repeats {
    hasher: RandomState,
    windows: HashMap<u64, Window>,
    /// Pairs in the order their windows started (a pair whose window restarted is in here
    /// twice; the older entry no longer matches and is skipped).
    order: VecDeque<(u64, i64)>,
    capacity: usize,
}

impl Repeats {
    pub(super) fn new(capacity: usize) -> Repeats {
        Repeats {
            hasher: RandomState::new(),
            windows: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// True when `record` is a new download to write; false when it repeats one recorded
    /// within the window (same client address and file, a user agent already recorded or the
    /// window's user agents used up).
    pub(super) fn admit(&mut self, record: &DownloadRecord) -> bool {
        let pair = self.hasher.hash_one((
            record.origin.as_str(),
            record.ip.as_deref(),
            record.project.as_str(),
            record.filename.as_str(),
            record.sha256.as_str(),
        ));
        let agent = self.hasher.hash_one(record.user_agent.as_deref());
        let now = record.at;
        self.forget_expired(now);
        if let Some(w) = self.windows.get_mut(&pair) {
            // A clock that went back starts a new window rather than silencing the pair.
            if now >= w.start && now - w.start < WINDOW {
                if w.agents.contains(&agent) || w.agents.len() >= AGENTS_PER_WINDOW {
                    return false;
                }
                w.agents.push(agent);
                return true;
            }
        }
        while self.order.len() >= self.capacity {
            self.pop_oldest();
        }
        self.windows.insert(
            pair,
            Window {
                start: now,
                agents: vec![agent],
            },
        );
        self.order.push_back((pair, now));
        true
    }

    /// Pairs remembered now.
    #[cfg(test)]
    pub(super) fn tracked(&self) -> usize {
        self.windows.len()
    }

    fn forget_expired(&mut self, now: i64) {
        while let Some(&(_, start)) = self.order.front() {
            if now.saturating_sub(start) < WINDOW {
                break;
            }
            self.pop_oldest();
        }
    }

    fn pop_oldest(&mut self) {
        if let Some((pair, start)) = self.order.pop_front()
            && self.windows.get(&pair).is_some_and(|w| w.start == start)
        {
            self.windows.remove(&pair);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strongroom_store::download_log::Origin;

    fn rec(ip: &str, file: &str, ua: &str, at: i64) -> DownloadRecord {
        DownloadRecord {
            origin: Origin::Upstream,
            project: "ctx".into(),
            version: "0.2.2".into(),
            filename: file.into(),
            sha256: "a".repeat(64),
            at,
            ip: Some(ip.into()),
            user_agent: Some(ua.into()),
        }
    }

    #[test]
    fn repeats_within_the_window_are_one_download_per_agent() {
        let mut r = Repeats::new(TRACKED);
        assert!(r.admit(&rec("10.0.0.1", "f.whl", "pip/25", 0)));
        for i in 1..1_000 {
            assert!(!r.admit(&rec("10.0.0.1", "f.whl", "pip/25", i * 1_000)));
        }
        // Another tool on the same machine, another machine, another file: downloads.
        assert!(r.admit(&rec("10.0.0.1", "f.whl", "uv/0.8", 5)));
        assert!(r.admit(&rec("10.0.0.2", "f.whl", "pip/25", 5)));
        assert!(r.admit(&rec("10.0.0.1", "g.whl", "pip/25", 5)));
        // Made-up user agents buy a few rows per window, no more.
        let fresh: Vec<bool> = (0..10)
            .map(|i| r.admit(&rec("10.0.0.1", "f.whl", &format!("x{i}"), 7)))
            .collect();
        assert_eq!(fresh.iter().filter(|b| **b).count(), AGENTS_PER_WINDOW - 2);
        // The next window records the pair again.
        assert!(r.admit(&rec("10.0.0.1", "f.whl", "pip/25", WINDOW)));
        assert!(!r.admit(&rec("10.0.0.1", "f.whl", "pip/25", WINDOW + 1)));
        // A clock that went back does not silence the pair.
        assert!(r.admit(&rec("10.0.0.1", "f.whl", "pip/25", 3)));
    }

    #[test]
    fn memory_is_bounded_and_forgetting_costs_a_repeat_never_a_download() {
        let mut r = Repeats::new(100);
        for i in 0..10_000 {
            assert!(r.admit(&rec(
                &format!("10.1.{}.{}", i / 256, i % 256),
                "f.whl",
                "pip",
                1
            )));
            assert!(r.tracked() <= 100 && r.order.len() <= 100);
        }
        // The first address was forgotten under pressure: recorded again.
        assert!(r.admit(&rec("10.1.0.0", "f.whl", "pip", 2)));
        // Expired windows are forgotten as time passes.
        assert!(r.admit(&rec("10.9.9.9", "f.whl", "pip", WINDOW + 10)));
        assert_eq!(r.tracked(), 1);
    }
}
