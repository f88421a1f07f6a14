//! Where password hashing runs: at most `password.hash_concurrency` Argon2 computations at once,
//! on blocking threads so they never stall the request loop. A caller waits for a slot at most
//! `password.hash_wait_seconds`, then gets [`CoreError::Busy`] (503): a burst of logins costs
//! time, never unbounded memory.
//!
//! Each slot owns its Argon2 working memory ([`HashMemory`], `password.argon2_memory_kib`) and
//! reuses it for every hash. Allocating 19 MiB per hash and freeing it is what kept memory high
//! after a burst: glibc serves the first such block by `mmap`, then raises its threshold to the
//! freed size, so later ones come from heap arenas that do not shrink. With the memory owned
//! by the slots the process holds at most `hash_concurrency × argon2_memory_kib` for hashing,
//! however many logins arrive; once no hash has run for [`IDLE_RELEASE`] the slots' memory is
//! dropped, so a quiet server gives it back. (The binary now allocates with jemalloc, which
//! returns freed blocks by itself; the slots still bound what a burst holds at once.)

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::CoreError;
use crate::passwords::HashMemory;

/// How long the pool must have hashed nothing before its slots' memory is dropped.
pub const IDLE_RELEASE: Duration = Duration::from_secs(30);

/// What a login is told when every hashing slot stayed taken for the whole wait.
pub const BUSY: &str = "The index is busy checking other passwords. Try again in a few seconds.";

/// The bounded pool (cheap to clone; clones share the slots).
#[derive(Clone, Debug)]
pub struct HashPool {
    slots: Arc<Semaphore>,
    /// The working memory of the slots not in use (at most `size`, made on first need).
    memory: Arc<Mutex<Vec<HashMemory>>>,
    keep_kib: u32,
    size: usize,
    wait: Duration,
    /// When the last hash finished (the idle release counts from it).
    last_finished: Arc<Mutex<Instant>>,
    /// Whether a task waiting to release the memory exists (at most one).
    releasing: Arc<AtomicBool>,
    idle_release: Duration,
}

impl HashPool {
    /// `size` slots (at least 1), each keeping `keep_kib` KiB of Argon2 memory; a caller waits
    /// at most `wait_secs` (at least 1) for one.
    pub fn new(size: usize, wait_secs: u64, keep_kib: u32) -> HashPool {
        let size = size.max(1);
        HashPool {
            slots: Arc::new(Semaphore::new(size)),
            memory: Arc::new(Mutex::new(Vec::with_capacity(size))),
            keep_kib,
            size,
            wait: Duration::from_secs(wait_secs.max(1)),
            last_finished: Arc::new(Mutex::new(Instant::now())),
            releasing: Arc::default(),
            idle_release: IDLE_RELEASE,
        }
    }

    /// The same pool with another idle time before its memory is dropped (tests).
    pub fn with_idle_release(mut self, idle: Duration) -> HashPool {
        self.idle_release = idle;
        self
    }

    /// After a hash: make sure one task drops the slots' memory once nothing has been hashed
    /// for the idle time, counted from the last hash to finish (it waits while hashes go on; at
    /// most one such task exists, and a hash that starts later makes its own memory again).
    fn release_when_idle(&self) {
        if let Ok(mut last) = self.last_finished.lock() {
            *last = Instant::now();
        }
        if self.releasing.swap(true, Ordering::AcqRel) {
            return;
        }
        let pool = self.clone();
        tokio::spawn(async move {
            loop {
                let since = pool.since_last_hash();
                if since >= pool.idle_release && pool.slots.available_permits() == pool.size {
                    if let Ok(mut m) = pool.memory.lock() {
                        let bytes: usize = m.iter().map(HashMemory::held_bytes).sum();
                        m.clear();
                        m.shrink_to_fit();
                        tracing::debug!(bytes, "password hashing idle: its memory is released");
                    }
                    pool.releasing.store(false, Ordering::Release);
                    // A hash that finished between the check and the flag saw the flag set and
                    // started no task: this one goes on for it, unless another has started.
                    if pool.since_last_hash() >= pool.idle_release
                        || pool.releasing.swap(true, Ordering::AcqRel)
                    {
                        return;
                    }
                    continue;
                }
                let wait = pool.idle_release.saturating_sub(since);
                tokio::time::sleep(wait.max(Duration::from_millis(100))).await;
            }
        });
    }

    /// Time since the last hash finished.
    fn since_last_hash(&self) -> Duration {
        self.last_finished
            .lock()
            .map_or(Duration::ZERO, |last| last.elapsed())
    }

    /// Bytes of Argon2 memory the idle slots hold now.
    pub fn held_bytes(&self) -> usize {
        self.memory
            .lock()
            .map_or(0, |m| m.iter().map(HashMemory::held_bytes).sum())
    }

    /// How many hashes may run at once.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Run `work` (one or a few hashes) when a slot is free. The slot is held until `work`
    /// ends, even when the caller has gone (a dropped request cannot free a slot early).
    pub async fn run<T, F>(&self, work: F) -> Result<T, CoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut HashMemory) -> T + Send + 'static,
    {
        let permit = match tokio::time::timeout(self.wait, Arc::clone(&self.slots).acquire_owned())
            .await
        {
            Ok(Ok(p)) => p,
            Ok(Err(_)) => return Err(CoreError::Internal("hash pool closed".into())),
            Err(_) => {
                tracing::warn!(
                    slots = self.size,
                    waited_secs = self.wait.as_secs(),
                    "every password-hashing slot stayed busy; answered 503 (password.hash_concurrency)"
                );
                return Err(CoreError::Busy {
                    message: BUSY.into(),
                    retry_after_secs: 5,
                });
            }
        };
        let (memory, keep_kib) = (Arc::clone(&self.memory), self.keep_kib);
        let out = tokio::task::spawn_blocking(move || {
            // A slot's memory is taken under the permit, so at most `size` ever exist.
            let mut mine = memory
                .lock()
                .ok()
                .and_then(|mut m| m.pop())
                .unwrap_or_else(|| HashMemory::new(keep_kib));
            let out = work(&mut mine);
            if let Ok(mut m) = memory.lock() {
                m.push(mine);
            }
            drop(permit);
            out
        })
        .await
        .map_err(|e| CoreError::Internal(format!("password hashing task failed: {e}")));
        self.release_when_idle();
        out
    }
}

impl crate::Services {
    /// Hash a new password or recovery code on the pool.
    pub async fn hash_secret_pooled(&self, secret: &str) -> Result<String, CoreError> {
        let (settings, secret) = (Arc::clone(&self.settings), secret.to_owned());
        self.hash_pool
            .run(move |mem| crate::passwords::hash_secret_in(&settings, &secret, mem))
            .await?
    }

    /// Whether `secret` matches the PHC string `hash`, checked on the pool.
    pub async fn verify_secret_pooled(&self, hash: &str, secret: &str) -> Result<bool, CoreError> {
        let (hash, secret) = (hash.to_owned(), secret.to_owned());
        self.hash_pool
            .run(move |mem| crate::passwords::verify_secret_in(&hash, &secret, mem))
            .await
    }

    /// The first of `hashes` that `secret` matches, checked on the pool (one slot for all).
    pub async fn find_secret_pooled(
        &self,
        hashes: Vec<String>,
        secret: &str,
    ) -> Result<Option<usize>, CoreError> {
        let secret = secret.to_owned();
        self.hash_pool
            .run(move |mem| {
                hashes
                    .iter()
                    .position(|h| crate::passwords::verify_secret_in(h, &secret, mem))
            })
            .await
    }

    /// A verification that costs what a real one does (unknown accounts), on the pool.
    pub async fn burn_verification_pooled(&self) -> Result<(), CoreError> {
        let settings = Arc::clone(&self.settings);
        self.hash_pool
            .run(move |mem| crate::passwords::burn_verification_in(&settings, mem))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn at_most_size_run_at_once_and_a_long_wait_is_busy() {
        let pool = HashPool::new(2, 1, 64);
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (pool, running, peak) = (pool.clone(), running.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                pool.run(move |_| {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            }));
        }
        for t in tasks {
            t.await.expect("join").expect("ran");
        }
        assert_eq!(
            peak.load(Ordering::SeqCst),
            2,
            "never more than the pool's size"
        );

        // Both slots taken for longer than the wait: the next caller is told to come back.
        let blockers: Vec<_> = (0..2)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move {
                    pool.run(|_| std::thread::sleep(Duration::from_millis(2500)))
                        .await
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let e = pool.run(|_| ()).await.expect_err("busy");
        assert!(matches!(e, CoreError::Busy { .. }), "{e:?}");
        for b in blockers {
            b.await.expect("join").expect("ran");
        }
        pool.run(|_| ()).await.expect("free again");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_burst_leaves_at_most_one_memory_per_slot() {
        let settings = Arc::new(crate::Settings {
            argon2_memory_kib: 256,
            argon2_iterations: 1,
            ..crate::Settings::default()
        });
        let pool = HashPool::new(3, 10, settings.argon2_memory_kib);
        let mut tasks = Vec::new();
        for i in 0..24 {
            let (pool, settings) = (pool.clone(), settings.clone());
            tasks.push(tokio::spawn(async move {
                pool.run(move |mem| {
                    let h =
                        crate::passwords::hash_secret_in(&settings, &format!("pw number {i}"), mem)
                            .expect("hash");
                    crate::passwords::verify_secret_in(&h, &format!("pw number {i}"), mem)
                })
                .await
            }));
        }
        for t in tasks {
            assert!(t.await.expect("join").expect("ran"), "each verifies");
        }
        let held = pool.held_bytes();
        assert!(held > 0, "memory is kept for the next burst");
        assert!(
            held <= 3 * 256 * 1024,
            "never more than one memory per slot: {held}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_idle_pool_drops_its_memory_and_a_busy_one_keeps_it() {
        let settings = Arc::new(crate::Settings {
            argon2_memory_kib: 256,
            argon2_iterations: 1,
            ..crate::Settings::default()
        });
        let pool = HashPool::new(2, 10, 256).with_idle_release(Duration::from_millis(300));
        let hash = |pool: HashPool, settings: Arc<crate::Settings>| async move {
            pool.run(move |mem| crate::passwords::hash_secret_in(&settings, "pw", mem))
                .await
                .expect("ran")
                .expect("hash");
        };
        hash(pool.clone(), settings.clone()).await;
        assert!(pool.held_bytes() > 0, "kept right after a hash");
        // Hashing on, every 100 ms for a second: never idle for 300 ms, so the memory stays.
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            hash(pool.clone(), settings.clone()).await;
            assert!(pool.held_bytes() > 0, "kept while hashes go on");
        }
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert_eq!(pool.held_bytes(), 0, "dropped once idle");
        // And made again for the next hash, then dropped again.
        hash(pool.clone(), settings.clone()).await;
        assert!(pool.held_bytes() > 0);
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert_eq!(pool.held_bytes(), 0, "dropped again");
    }
}
