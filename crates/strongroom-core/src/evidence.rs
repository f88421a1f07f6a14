//! Anchoring the event log outside the database. The hash chain proves that no entry was
//! changed, inserted or removed *before* the newest one; only a copy of the newest entry's
//! `(seq, hash)` kept elsewhere (the server's own log prints it, `log verify` prints it) proves
//! that nothing was cut off the end. `serve` writes the head to its own log within
//! [`HEAD_ANCHOR_EVERY`] of every move ([`Services::anchor_head_forever`]) and once more at a
//! graceful shutdown ([`Services::anchor_head_at_shutdown`]), so at most that last moment's
//! entries can be cut off unnoticed.

use crate::{CoreError, Services};

/// The newest entry of the log, as `SEQ:HASH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub seq: i64,
    pub hash: String,
}

impl std::fmt::Display for Head {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

impl std::str::FromStr for Head {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Head, CoreError> {
        let bad = || {
            CoreError::Invalid(format!(
                "expected SEQ:HASH (as `log verify` prints it), got '{s}'"
            ))
        };
        let (seq, hash) = s.trim().split_once(':').ok_or_else(bad)?;
        let seq: i64 = seq.parse().map_err(|_| bad())?;
        if seq < 1 || hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        Ok(Head {
            seq,
            hash: hash.to_ascii_lowercase(),
        })
    }
}

/// How a recorded head compares with the log now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadCheck {
    /// The recorded entry is still there with the same hash.
    Present,
    /// The recorded entry is gone: the log was cut at or before it.
    Missing,
    /// The entry exists but hashes differently: the log was rewritten from there.
    Changed,
}

/// How soon after the log moves `serve` writes its new head (independent of the jobs' interval;
/// one indexed read of the newest entry per tick).
pub const HEAD_ANCHOR_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl Services {
    /// Write the event log's head to the server's own log whenever it moves, checking every
    /// `every` (from `serve`, forever). Entries appended by any process sharing the database
    /// count: the head is read from the database, not counted here.
    pub async fn anchor_head_forever(self, every: std::time::Duration) {
        let mut written: Option<Head> = None;
        let mut ticks = tokio::time::interval(every.max(std::time::Duration::from_millis(10)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match self.log_head().await {
                Ok(head) if head != written => {
                    if let Some(h) = &head {
                        tracing::info!(head = %h, "event log head");
                    }
                    written = head;
                }
                Ok(_) => {}
                // the server is stopping: `anchor_head_at_shutdown` wrote the last head
                Err(_) if self.db.is_closed() => return,
                Err(e) => tracing::warn!(error = %e, "cannot read the event log head"),
            }
        }
    }

    /// Write the head once more as `serve` stops (after the last request finished), so that
    /// the final anchor covers every entry the server wrote.
    pub async fn anchor_head_at_shutdown(&self) {
        match self.log_head().await {
            Ok(Some(h)) => tracing::info!(head = %h, "event log head at shutdown"),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot read the event log head at shutdown"),
        }
    }

    /// The newest entry of the event log (None while it is empty).
    pub async fn log_head(&self) -> Result<Option<Head>, CoreError> {
        Ok(self
            .db
            .event_head()
            .await?
            .map(|(seq, hash)| Head { seq, hash }))
    }

    /// Compare a head recorded earlier with the log as it is now.
    pub async fn check_head(&self, recorded: &Head) -> Result<HeadCheck, CoreError> {
        Ok(match self.db.event_hash(recorded.seq).await? {
            None => HeadCheck::Missing,
            Some(h) if h == recorded.hash => HeadCheck::Present,
            Some(_) => HeadCheck::Changed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse_as_printed() {
        let h = Head {
            seq: 42,
            hash: "ab".repeat(32),
        };
        assert_eq!(h.to_string().parse::<Head>().expect("parse"), h);
        for bad in [
            "",
            "42",
            "x:ab",
            "0:abab",
            &format!("7:{}", "zz".repeat(32)),
        ] {
            assert!(bad.parse::<Head>().is_err(), "{bad}");
        }
    }
}
