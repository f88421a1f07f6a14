//! The impact report's page-read counters between two flushes: per (day, project, client
//! kind), kept on the counting thread's stripe (`crate::striped`), bounded over all stripes
//! by [`super::PAGE_HIT_KEYS`], merged into one row per key when taken.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use strongroom_store::page_hits::PageHitCount;

use crate::client_kind::{self, ClientKind};
use crate::striped::Tally;

/// Page reads per client kind.
type KindCounts = [u64; client_kind::ALL.len()];

/// One stripe's counters: per day (one, or two around midnight: a list, looked through
/// rather than hashed on every read), then per project (hashbrown's map and its default
/// hasher, foldhash, in place of SipHash: every page served hashes its project's name here;
/// the names are those of projects that exist).
type Days = Vec<(i64, hashbrown::HashMap<String, KindCounts>)>;

/// Page reads per day, project and client kind, between two flushes: striped
/// (`crate::striped`), so that the threads serving pages at once count on their own stripe.
#[derive(Debug, Default)]
pub(super) struct PageHits {
    stripes: Tally<Days>,
    /// (day, project) counters held in all the stripes together.
    keys: AtomicUsize,
}

impl PageHits {
    /// Count `n` reads; false when the bound (counters over all stripes) leaves no room for a
    /// new (day, project).
    pub(super) fn add(
        &self,
        day: i64,
        project: &str,
        kind: ClientKind,
        n: u64,
        bound: usize,
    ) -> bool {
        self.stripes
            .with(|days| {
                let at = match days.iter().position(|(d, _)| *d == day) {
                    Some(at) => at,
                    None => {
                        days.push((day, hashbrown::HashMap::new()));
                        days.len() - 1
                    }
                };
                let Some((_, projects)) = days.get_mut(at) else {
                    return false;
                };
                if let Some(counts) = projects.get_mut(project) {
                    counts[kind.index()] += n;
                    return true;
                }
                let room = self
                    .keys
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |k| {
                        (k < bound).then_some(k + 1)
                    });
                if room.is_err() {
                    return false;
                }
                let mut counts = [0; client_kind::ALL.len()];
                counts[kind.index()] = n;
                projects.insert(project.to_owned(), counts);
                true
            })
            .unwrap_or(false)
    }

    /// The counters as rows, one per (day, project, kind) whatever stripes counted it (and
    /// the stripes emptied).
    pub(super) fn take(&self) -> Vec<PageHitCount> {
        // each stripe's map taken under its lock, merged after: a lane counting a page on
        // that stripe waits for the swap only
        let mut taken = Vec::new();
        self.stripes.each(|days| {
            let days = std::mem::take(days);
            let held: usize = days.iter().map(|(_, p)| p.len()).sum();
            self.keys.fetch_sub(held, Ordering::AcqRel);
            taken.push(days);
        });
        let mut merged: HashMap<(i64, String), KindCounts> = HashMap::new();
        for (day, projects) in taken.into_iter().flatten() {
            for (project, counts) in projects {
                let m = merged.entry((day, project)).or_default();
                for (a, b) in m.iter_mut().zip(counts) {
                    *a += b;
                }
            }
        }
        let mut out = Vec::new();
        for ((day, project), counts) in merged {
            for kind in client_kind::ALL {
                let n = counts[kind.index()];
                if n > 0 {
                    out.push(PageHitCount {
                        project: project.clone(),
                        day,
                        client_kind: kind.as_str().to_owned(),
                        count: i64::try_from(n).unwrap_or(i64::MAX),
                    });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    const DAY_US: i64 = 86_400_000_000;

    #[test]
    fn page_hits_counted_on_many_threads_are_one_row_per_key_and_share_the_bound() {
        let hits = Arc::new(PageHits::default());
        let day = 20_000 * DAY_US;
        let threads: Vec<_> = (0..crate::striped::STRIPES + 2)
            .map(|_| {
                let hits = hits.clone();
                std::thread::spawn(move || {
                    (0..10)
                        .filter(|i| hits.add(day, &format!("p{i}"), ClientKind::Pip, 1, 6))
                        .count()
                })
            })
            .collect();
        let mut counted = 0;
        for t in threads {
            counted += t.join().expect("thread");
        }
        // the bound is on counters held, over every stripe (a project counted on two
        // stripes holds two until the flush)
        assert!((6..=6 * (crate::striped::STRIPES + 2)).contains(&counted));
        let rows = hits.take();
        let mut keys: Vec<&str> = rows.iter().map(|r| r.project.as_str()).collect();
        keys.sort_unstable();
        let n = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), n, "one row per (day, project, kind): {rows:?}");
        assert!((1..=6).contains(&n), "{rows:?}");
        let total: i64 = rows.iter().map(|r| r.count).sum();
        assert_eq!(total, i64::try_from(counted).expect("small"));
        assert_eq!(
            hits.keys.load(Ordering::Relaxed),
            0,
            "a take frees what it took"
        );
    }
}
