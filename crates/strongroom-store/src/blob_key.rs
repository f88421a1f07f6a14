//! Blob keys: where a distribution file (and its `.metadata`) lives in the blob store, for a
//! local file (`aa/bb/rest/filename`, PyPI's layout) and for a cached upstream file
//! (`upstream/aa/<sha256>-filename`, or the earlier `upstream/aa/bb/rest/filename`), and the
//! parsing that turns a stored or listed name back into a key (nothing else becomes a path).

/// The folder of cached upstream files in the blob store (issue 12).
pub const UPSTREAM_PREFIX: &str = "upstream";

/// Where a blob lives, relative to the store root: `aa/bb/rest/filename` (PyPI's layout).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobKey(String);

impl BlobKey {
    /// The key of a distribution file with the given blake2b-256 hex digest.
    pub fn for_file(blake2_hex: &str, filename: &str) -> Option<BlobKey> {
        if blake2_hex.len() != 64 || !blake2_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        if filename.is_empty() || filename.contains(['/', '\\']) || filename.starts_with('.') {
            return None;
        }
        Some(BlobKey(format!(
            "{}/{}/{}/{}",
            &blake2_hex[0..2],
            &blake2_hex[2..4],
            &blake2_hex[4..],
            filename
        )))
    }

    /// Parse a key from a URL path tail; `None` unless it has exactly the layout above.
    pub fn parse(s: &str) -> Option<BlobKey> {
        let mut parts = s.split('/');
        let (a, b, c, f) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || a.len() != 2 || b.len() != 2 {
            return None;
        }
        BlobKey::for_file(&format!("{a}{b}{c}"), f)
    }

    /// The key of a cached upstream file with the given sha256:
    /// `upstream/<aa>/<sha256>-<filename>`, apart from every local key (which starts with two
    /// hex digits). One folder per leading byte: keeping a file creates no folder once the 256
    /// exist (a folder per file made every first fetch pay for three new ones). Keys of the
    /// earlier layout, `upstream/<aa>/<bb>/<rest>/<filename>`, are still read.
    pub fn for_upstream(sha256_hex: &str, filename: &str) -> Option<BlobKey> {
        BlobKey::for_file(sha256_hex, filename)?;
        Some(BlobKey(format!(
            "{UPSTREAM_PREFIX}/{}/{sha256_hex}-{filename}",
            &sha256_hex[0..2]
        )))
    }

    /// Parse a cached upstream file's key: the layout of [`BlobKey::for_upstream`], or the
    /// earlier `upstream/<aa>/<bb>/<rest>/<filename>` (rows kept before it still name those).
    pub fn parse_upstream(s: &str) -> Option<BlobKey> {
        let rest = s.strip_prefix(UPSTREAM_PREFIX)?.strip_prefix('/')?;
        if let Some(k) = BlobKey::parse(rest) {
            return Some(BlobKey(format!("{UPSTREAM_PREFIX}/{}", k.0)));
        }
        let (_, tail) = rest.split_once('/')?;
        let sha = tail.get(..64)?;
        let filename = tail.get(64..)?.strip_prefix('-')?;
        BlobKey::for_upstream(sha, filename).filter(|k| k.0 == s)
    }

    /// Parse any key the store writes blobs under: a local file's or a cached upstream file's.
    /// For the collector, fsck and backups, which must know both.
    pub fn parse_stored(s: &str) -> Option<BlobKey> {
        BlobKey::parse(s).or_else(|| BlobKey::parse_upstream(s))
    }

    /// Whether this is a cached upstream file's key.
    pub fn is_upstream(&self) -> bool {
        self.0.starts_with(UPSTREAM_PREFIX) && self.0[UPSTREAM_PREFIX.len()..].starts_with('/')
    }

    /// The key of the PEP 658 metadata file beside this one.
    pub fn metadata(&self) -> String {
        format!("{}.metadata", self.0)
    }

    /// The key as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for BlobKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
