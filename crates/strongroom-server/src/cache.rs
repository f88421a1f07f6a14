//! Rendered pages kept in memory, keyed by what they depend on and valid for one serial.
//! A page is a pure function of its project's rows, so a serial change is the only invalidation.

use std::collections::HashMap;
use std::io::Write;
use std::sync::RwLock;

use bytes::Bytes;

/// A rendered page and its gzip copy.
#[derive(Debug, Clone)]
pub(crate) struct CachedPage {
    pub serial: i64,
    pub etag: String,
    pub body: Bytes,
    pub gzip: Option<Bytes>,
}

impl CachedPage {
    /// Wrap a freshly rendered body (gzip copy made once here, for bodies worth compressing).
    pub fn new(serial: i64, tag: &str, body: String) -> CachedPage {
        let body = Bytes::from(body);
        let gzip = if body.len() > 512 {
            let mut enc = flate2::write::GzEncoder::new(
                Vec::with_capacity(body.len() / 4),
                flate2::Compression::fast(),
            );
            enc.write_all(&body)
                .ok()
                .and_then(|()| enc.finish().ok())
                .map(Bytes::from)
        } else {
            None
        };
        let etag = format!("\"{serial}-{tag}-{}\"", env!("CARGO_PKG_VERSION"));
        CachedPage {
            serial,
            etag,
            body,
            gzip,
        }
    }
}

/// The cache.
#[derive(Debug)]
pub(crate) struct PageCache {
    pages: RwLock<HashMap<String, CachedPage>>,
    capacity: usize,
}

impl PageCache {
    pub fn new(capacity: usize) -> PageCache {
        PageCache {
            pages: RwLock::new(HashMap::new()),
            capacity,
        }
    }

    /// The page for `key` if it was rendered at `serial`.
    pub fn get(&self, key: &str, serial: i64) -> Option<CachedPage> {
        let pages = self.pages.read().ok()?;
        pages.get(key).filter(|p| p.serial == serial).cloned()
    }

    /// Remember a page (a full cache is emptied: simple and bounded).
    pub fn put(&self, key: String, page: CachedPage) {
        if let Ok(mut pages) = self.pages.write() {
            if pages.len() >= self.capacity && !pages.contains_key(&key) {
                pages.clear();
            }
            pages.insert(key, page);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_valid_for_one_serial_only() {
        let c = PageCache::new(2);
        c.put("a".into(), CachedPage::new(5, "html", "x".repeat(1000)));
        assert!(c.get("a", 5).is_some());
        assert!(c.get("a", 6).is_none());
        let p = c.get("a", 5).expect("cached");
        assert!(p.gzip.as_ref().is_some_and(|g| g.len() < 100));
        c.put("b".into(), CachedPage::new(1, "html", "y".into()));
        c.put("c".into(), CachedPage::new(1, "html", "z".into()));
        assert!(c.get("a", 5).is_none(), "a full cache is emptied");
        assert!(c.get("c", 1).is_some());
    }
}
