//! Counters and tallies that every request writes, kept in stripes (one cache line each) so
//! that threads serving at once mostly do not write the same line: each thread takes the next
//! stripe the first time it counts (two lanes share one only when a multiple of [`STRIPES`]
//! other threads counted between their first counts), and a reader sums or visits them all. A
//! shared atomic or mutex written by every request was a cache line the two cores handed to
//! each other on every page.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Stripes per counter or tally: more threads than this share stripes (still exact, just
/// written by more than one thread).
pub const STRIPES: usize = 16;

/// One stripe: a cache line (two, for the adjacent-line prefetcher) of its own.
#[repr(align(128))]
#[derive(Debug, Default)]
struct Line<T>(T);

/// This thread's stripe.
fn stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static MINE: usize = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
    }
    MINE.with(|m| *m)
}

fn lines<T: Default>() -> Box<[Line<T>]> {
    (0..STRIPES).map(|_| Line::default()).collect()
}

/// A count that only grows, read as the sum of its stripes.
#[derive(Debug)]
pub struct Counter {
    lines: Box<[Line<AtomicU64>]>,
}

impl Default for Counter {
    fn default() -> Self {
        Counter { lines: lines() }
    }
}

impl Counter {
    /// Add `n` (on this thread's stripe).
    pub fn add(&self, n: u64) {
        if let Some(l) = self.lines.get(stripe()) {
            l.0.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// The count so far.
    pub fn get(&self) -> u64 {
        self.lines
            .iter()
            .fold(0u64, |t, l| t.wrapping_add(l.0.load(Ordering::Relaxed)))
    }
}

/// A tally of type `T` in stripes, each behind its own lock: a thread updates its own
/// stripe; a reader visits every stripe and merges what it needs.
#[derive(Debug)]
pub struct Tally<T> {
    lines: Box<[Line<Mutex<T>>]>,
}

impl<T: Default> Default for Tally<T> {
    fn default() -> Self {
        Tally { lines: lines() }
    }
}

impl<T> Tally<T> {
    fn lock(line: &Line<Mutex<T>>) -> MutexGuard<'_, T> {
        line.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `f` on this thread's stripe.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let line = self.lines.get(stripe())?;
        Some(f(&mut Self::lock(line)))
    }

    /// `f` on every stripe in turn (each locked while `f` runs on it).
    pub fn each(&self, mut f: impl FnMut(&mut T)) {
        for line in self.lines.iter() {
            f(&mut Self::lock(line));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counter_sums_what_every_thread_added() {
        let c = std::sync::Arc::new(Counter::default());
        let threads: Vec<_> = (0..STRIPES + 3)
            .map(|i| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        c.add(u64::try_from(i).unwrap_or(0) + 1);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        let n = u64::try_from(STRIPES + 3).expect("small");
        assert_eq!(c.get(), 1000 * n * (n + 1) / 2);
    }

    #[test]
    fn a_tally_is_merged_from_every_stripe() {
        let t = std::sync::Arc::new(Tally::<Vec<u32>>::default());
        let threads: Vec<_> = (0..4u32)
            .map(|i| {
                let t = t.clone();
                std::thread::spawn(move || t.with(|v| v.push(i)))
            })
            .collect();
        for th in threads {
            assert_eq!(th.join().expect("thread"), Some(()));
        }
        let mut all = Vec::new();
        t.each(|v| all.append(v));
        all.sort_unstable();
        assert_eq!(all, vec![0, 1, 2, 3]);
        let mut left = 0;
        t.each(|v| left += v.len());
        assert_eq!(left, 0, "each hands out the stripes themselves");
    }

    #[test]
    fn a_stripe_is_a_line_of_its_own() {
        assert_eq!(std::mem::align_of::<Line<AtomicU64>>(), 128);
        assert_eq!(std::mem::size_of::<Line<AtomicU64>>(), 128);
    }
}
