//! The scanner's per-member results remembered by content (issue 13's cost bar): a new release
//! that shares most files with the previous one analyses only the changed ones.
//!
//! **Key**: sha256 of a fingerprint of the Python analysis (the hash of its own sources,
//! `strongroom_scan::python::RULES_SOURCES`, and `RULES_VERSION`), the member's role and path
//! (findings carry the path, and test or bootstrap paths change severities) and the member's
//! bytes. A changed rule, table or path gives another key; the result under a key is what
//! scanning exactly those bytes gave, so an uploader cannot poison it: to reach a key it must
//! send the bytes that hash to it, and then the stored result is theirs.
//!
//! **Layers**: a process-wide map bounded in bytes ([`MEMORY_BYTES`], the oldest entries go
//! first), then the `scan_member_cache` table (store), bounded in rows ([`MAX_ROWS`]; each
//! upload's write prunes the least recently used beyond it). Members the lexical prefilter
//! skips are not remembered (their scan costs less than a lookup), nor results that say the
//! analysis stopped at a time or work bound (a later try may finish).
//!
//! A failing or slow database read ([`DB_WAIT`]) means a miss; a failing write is logged:
//! the cache never changes an upload's answer.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use sha2::{Digest, Sha256};
use strongroom_scan::python::{SourceRole, SourceScan};
use strongroom_scan::{Rule, ScanLimits};
use strongroom_store::Db;

/// Rows the table keeps at most (a result is a few hundred bytes; most are empty).
pub const MAX_ROWS: i64 = 200_000;
/// Bytes (of the results' JSON) the in-memory layer keeps at most.
pub const MEMORY_BYTES: usize = 8 * 1024 * 1024;
/// How long one database read may take before it counts as a miss.
const DB_WAIT: Duration = Duration::from_secs(2);

/// The fingerprint of the Python analysis, hex.
fn rules_fingerprint() -> &'static str {
    static FP: OnceLock<String> = OnceLock::new();
    FP.get_or_init(|| {
        let mut h = Sha256::new();
        h.update(strongroom_scan::python::RULES_VERSION.to_le_bytes());
        for s in strongroom_scan::python::RULES_SOURCES {
            h.update((s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        }
        hex::encode(h.finalize())
    })
}

/// The cache key of one member.
pub fn member_key(path: &str, role: SourceRole, source: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(rules_fingerprint().as_bytes());
    h.update(format!("{role:?}").as_bytes());
    h.update([0]);
    h.update((path.len() as u64).to_le_bytes());
    h.update(path.as_bytes());
    h.update(source);
    hex::encode(h.finalize())
}

/// The in-memory layer: results by key, the oldest evicted beyond [`MEMORY_BYTES`].
#[derive(Default)]
struct Memory {
    map: HashMap<String, (SourceScan, usize)>,
    order: VecDeque<String>,
    bytes: usize,
}

impl Memory {
    fn get(&self, key: &str) -> Option<SourceScan> {
        self.map.get(key).map(|(s, _)| s.clone())
    }

    fn put(&mut self, key: String, scan: SourceScan, size: usize) {
        if size > MEMORY_BYTES / 16 || self.map.contains_key(&key) {
            return;
        }
        while self.bytes + size > MEMORY_BYTES {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some((_, s)) = self.map.remove(&old) {
                self.bytes -= s;
            }
        }
        self.bytes += size;
        self.order.push_back(key.clone());
        self.map.insert(key, (scan, size));
    }
}

fn memory() -> &'static Mutex<Memory> {
    static MEMORY: OnceLock<Mutex<Memory>> = OnceLock::new();
    MEMORY.get_or_init(|| Mutex::new(Memory::default()))
}

/// One archive's scan through the cache: called on the scan's blocking thread, it reads the
/// database through `handle`; what it learnt is written by [`MemberCache::save`] afterwards.
pub struct MemberCache {
    db: Option<Db>,
    handle: tokio::runtime::Handle,
    new: Mutex<Vec<(String, String)>>,
    used: Mutex<Vec<String>>,
}

impl MemberCache {
    /// `db: None`: the in-memory layer only.
    pub fn new(db: Option<Db>, handle: tokio::runtime::Handle) -> Self {
        Self {
            db,
            handle,
            new: Mutex::new(Vec::new()),
            used: Mutex::new(Vec::new()),
        }
    }

    /// [`strongroom_scan::python::scan_source`], remembered by content.
    pub fn scan(
        &self,
        path: &str,
        source: &[u8],
        role: SourceRole,
        limits: &ScanLimits,
    ) -> SourceScan {
        if !strongroom_scan::python::needs_parse(path, source, role) {
            return strongroom_scan::python::scan_source(path, source, role, limits);
        }
        let key = member_key(path, role, source);
        let remembered = memory().lock().unwrap_or_else(|p| p.into_inner()).get(&key);
        if let Some(s) = remembered {
            self.used
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(key);
            return s;
        }
        if let Some(db) = &self.db {
            let read = self
                .handle
                .block_on(async { tokio::time::timeout(DB_WAIT, db.scan_cache_get(&key)).await });
            if let Ok(Ok(Some(json))) = read
                && let Ok(s) = serde_json::from_str::<SourceScan>(&json)
            {
                memory().lock().unwrap_or_else(|p| p.into_inner()).put(
                    key.clone(),
                    s.clone(),
                    json.len(),
                );
                self.used
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(key);
                return s;
            }
        }
        let s = strongroom_scan::python::scan_source(path, source, role, limits);
        let bounded = s.findings.iter().any(|f| f.rule == Rule::UnscannedSource);
        if !bounded && let Ok(json) = serde_json::to_string(&s) {
            memory().lock().unwrap_or_else(|p| p.into_inner()).put(
                key.clone(),
                s.clone(),
                json.len(),
            );
            self.new
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((key, json));
        }
        s
    }

    /// Write what this scan learnt (new results, keys used) and prune to [`MAX_ROWS`].
    pub async fn save(self, at: i64) {
        let Some(db) = self.db else { return };
        let new = self.new.into_inner().unwrap_or_else(|p| p.into_inner());
        let used = self.used.into_inner().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = db.scan_cache_put(&new, &used, at, MAX_ROWS).await {
            tracing::warn!(error = %e, "cannot remember scan results; the next upload scans again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A result in the table is what a scan answers for those bytes (the memory layer
    /// forgotten), and a fresh result is written back with the keys used.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn results_come_from_the_table_and_go_back_to_it() {
        let h = crate::test_harness::Harness::new().await;
        let db = h.s.db.clone();
        let src = b"import os\nos.system('table test 7f3a')\n".to_vec();
        let key = member_key("pkg/t.py", SourceRole::Module, &src);
        let planted = SourceScan {
            capabilities: [strongroom_scan::Capability::Network].into(),
            findings: Vec::new(),
            ..Default::default()
        };
        let json = serde_json::to_string(&planted).expect("json");
        db.scan_cache_put(&[(key.clone(), json)], &[], 1, MAX_ROWS)
            .await
            .expect("plant");
        let cache = MemberCache::new(Some(db.clone()), tokio::runtime::Handle::current());
        let (got, cache) = tokio::task::spawn_blocking(move || {
            let got = cache.scan("pkg/t.py", &src, SourceRole::Module, &ScanLimits::default());
            (got, cache)
        })
        .await
        .expect("scan");
        assert_eq!(got, planted);
        // Other bytes: analysed, remembered, written back.
        let other = b"import os\nos.system('table test 9c1e')\n".to_vec();
        let other_key = member_key("pkg/t.py", SourceRole::Module, &other);
        let cache = tokio::task::spawn_blocking(move || {
            let s = cache.scan(
                "pkg/t.py",
                &other,
                SourceRole::Module,
                &ScanLimits::default(),
            );
            assert!(
                s.capabilities
                    .contains(&strongroom_scan::Capability::ProcessSpawn)
            );
            cache
        })
        .await
        .expect("scan");
        cache.save(2).await;
        assert!(db.scan_cache_get(&other_key).await.expect("get").is_some());
        assert_eq!(db.scan_cache_rows().await.expect("rows"), 2);
    }

    #[test]
    fn keys_differ_by_path_role_and_bytes() {
        let a = member_key("pkg/a.py", SourceRole::Module, b"import os\n");
        assert_eq!(
            a,
            member_key("pkg/a.py", SourceRole::Module, b"import os\n")
        );
        assert_ne!(
            a,
            member_key("pkg/b.py", SourceRole::Module, b"import os\n")
        );
        assert_ne!(
            a,
            member_key("pkg/a.py", SourceRole::SetupPy, b"import os\n")
        );
        assert_ne!(
            a,
            member_key("pkg/a.py", SourceRole::Module, b"import os \n")
        );
        // The path's length is hashed: a path cannot borrow the bytes' first characters.
        assert_ne!(
            member_key("a", SourceRole::Module, b"bc"),
            member_key("ab", SourceRole::Module, b"c")
        );
    }

    #[test]
    fn memory_is_bounded_in_bytes() {
        let mut m = Memory::default();
        let size = MEMORY_BYTES / 20;
        for i in 0..100 {
            m.put(format!("k{i}"), SourceScan::default(), size);
            assert!(m.bytes <= MEMORY_BYTES);
        }
        assert!(m.get("k0").is_none());
        assert!(m.get("k99").is_some());
        // One result larger than a sixteenth of the bound is not kept.
        m.put("big".into(), SourceScan::default(), MEMORY_BYTES / 8);
        assert!(m.get("big").is_none());
    }
}
