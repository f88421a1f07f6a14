//! What a page is kept under: [`PageKey`] (a closed set of kinds, named by index-controlled
//! values only), the borrowed [`SimpleKey`] a request for a project's page looks up with, and
//! [`MapKey`], the key as the cache's map holds it.

use std::sync::Arc;

/// What a cached page is: a closed set of kinds, named by index-controlled values only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PageKey {
    /// `/simple/` in HTML (both HTML media types share one body) or JSON.
    Index { json: bool },
    /// `/simple/<project>/` (the normalised name of an existing, visible project).
    Simple { project: String, json: bool },
    /// `/pypi/<project>/json` (`version: None`) or `/pypi/<project>/<version>/json`, by the
    /// version's canonical form, so `1.0` and `1.0.0` share an entry.
    PypiJson {
        project: String,
        version: Option<String>,
        /// `Db::upstream_generation` when built: an advisory import moves it, so a document
        /// with the old `vulnerabilities` is never read again.
        generation: i64,
    },
    /// XML-RPC `list_packages_with_serial` (the members of its struct).
    XmlRpcPackages,
    /// An upstream project's simple page (`doc: None`, `json` the format) or JSON API document
    /// (`doc: Some(version)`, `Some(None)` for the project's), valid for the generation and
    /// cooldown hour in the key and the stored page's revision as the serial
    /// (`core::gateway::PageValidity`): a page of an older generation is never read again and
    /// goes at the clock's next pass.
    Upstream {
        project: String,
        json: bool,
        doc: Option<Option<String>>,
        generation: i64,
        hour: i64,
    },
    /// XML-RPC `changelog_since_serial`: the journal entries of one block of serials
    /// (`xmlrpc::CHANGELOG_PAGE` serials; only blocks below the global serial exist).
    Changelog { block: i64 },
    /// `/packages/<blob key>` (`metadata: false`: what the database says of the file, no
    /// bytes) or its `.metadata` (the PEP 658 file's bytes when small): kept until the
    /// project's next journal entry, like its pages. The project rides along for
    /// invalidation; the key's identity is the blob key alone (one blob key, one file), so a
    /// request that knows only the path finds it ([`PageKey::download`]).
    Download {
        blob_key: String,
        metadata: bool,
        project: Rider,
    },
}

/// A value carried in a key that takes no part in its identity (equal to every other, hashed
/// as nothing).
#[derive(Debug, Clone, Default)]
pub(crate) struct Rider(pub String);

impl PartialEq for Rider {
    fn eq(&self, _: &Rider) -> bool {
        true
    }
}

impl Eq for Rider {}

impl std::hash::Hash for Rider {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}

/// A borrowed [`PageKey::Simple`]: what a request for a project's page looks up, made of its
/// path as it is (no copy of the name per request). Hashed as the key it stands for
/// ([`PageKey`]'s `Hash`), so the cache's map finds that key with it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SimpleKey<'a> {
    pub project: &'a str,
    pub json: bool,
}

impl std::hash::Hash for SimpleKey<'_> {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        h.write_u8(SIMPLE_TAG);
        self.project.hash(h);
        self.json.hash(h);
    }
}

impl hashbrown::Equivalent<MapKey> for SimpleKey<'_> {
    fn equivalent(&self, key: &MapKey) -> bool {
        let s = &key.short;
        let n = self.project.len();
        if s.kind == SHORT_NONE {
            return self.is(&key.key);
        }
        if s.kind != Short::simple_kind(self.json) || usize::from(s.len) != n {
            return false;
        }
        let head = n.min(SHORT_NAME);
        s.name.get(..head) == self.project.as_bytes().get(..head)
            && (n <= SHORT_NAME || self.is(&key.key))
    }
}

impl SimpleKey<'_> {
    /// Whether `key` is the [`PageKey::Simple`] this stands for (compared through the key's
    /// own name: what the slot does not hold).
    fn is(&self, key: &PageKey) -> bool {
        matches!(key, PageKey::Simple { project, json } if *json == self.json && project == self.project)
    }
}

/// A key as the map holds it: the shared key, and beside it, in the map's own slot, what a
/// project's page is told apart by (its format, and its name's length and first bytes). A
/// lookup of a project's page ([`SimpleKey`]) compares those where it found the slot, instead
/// of following the key's pointer and then its name's (two reads from memory the request
/// touches nowhere else: half of a kept page's lookup, under a spread over every project).
#[derive(Debug, Clone)]
pub(crate) struct MapKey {
    pub(super) key: Key,
    short: Short,
}

/// How many bytes of a project's name a [`MapKey`] holds beside its key.
pub(super) const SHORT_NAME: usize = 22;

/// See [`MapKey`]: `kind` says what the rest means.
#[derive(Debug, Clone, Copy)]
struct Short {
    kind: u8,
    /// The name's length (a [`PageKey::Simple`] whose name is under 256 bytes).
    len: u8,
    /// The name's first bytes (up to [`SHORT_NAME`]; the rest zero).
    name: [u8; SHORT_NAME],
}

/// [`Short::kind`]: nothing held beside the key (compare the key itself) ...
const SHORT_NONE: u8 = 0;
/// ... another kind of page than a project's simple page (never a [`SimpleKey`]'s) ...
const SHORT_OTHER: u8 = 1;
// ... or a project's simple page, in HTML (2) or JSON (3): `Short::simple_kind`.

impl Short {
    const fn simple_kind(json: bool) -> u8 {
        if json { 3 } else { 2 }
    }

    fn of(key: &PageKey) -> Short {
        let mut short = Short {
            kind: SHORT_OTHER,
            len: 0,
            name: [0; SHORT_NAME],
        };
        if let PageKey::Simple { project, json } = key {
            match u8::try_from(project.len()) {
                Ok(len) => {
                    let head = project.len().min(SHORT_NAME);
                    short.name[..head].copy_from_slice(&project.as_bytes()[..head]);
                    short.len = len;
                    short.kind = Short::simple_kind(*json);
                }
                Err(_) => short.kind = SHORT_NONE,
            }
        }
        short
    }
}

impl MapKey {
    pub(super) fn new(key: Key) -> MapKey {
        let short = Short::of(&key);
        MapKey { key, short }
    }
}

/// Hashed and compared as the key itself, so the map is searched with a [`PageKey`], a [`Key`]
/// or a [`SimpleKey`] alike.
impl std::hash::Hash for MapKey {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.key.hash(h);
    }
}

impl PartialEq for MapKey {
    fn eq(&self, other: &MapKey) -> bool {
        self.key == other.key
    }
}

impl Eq for MapKey {}

impl std::borrow::Borrow<PageKey> for MapKey {
    fn borrow(&self) -> &PageKey {
        &self.key
    }
}

impl std::borrow::Borrow<Key> for MapKey {
    fn borrow(&self) -> &Key {
        &self.key
    }
}

/// The tag [`PageKey::Simple`] hashes first (each kind its own, then its fields).
const SIMPLE_TAG: u8 = 1;

/// Written out rather than derived so that [`SimpleKey`] hashes as the key it borrows (what a
/// derived enum hash writes for its variant is the compiler's choice). A [`Rider`] hashes as
/// nothing, as it compares equal to every other.
impl std::hash::Hash for PageKey {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        match self {
            PageKey::Index { json } => {
                h.write_u8(0);
                json.hash(h);
            }
            PageKey::Simple { project, json } => SimpleKey {
                project,
                json: *json,
            }
            .hash(h),
            PageKey::PypiJson {
                project,
                version,
                generation,
            } => {
                h.write_u8(2);
                project.hash(h);
                version.hash(h);
                generation.hash(h);
            }
            PageKey::XmlRpcPackages => h.write_u8(3),
            PageKey::Upstream {
                project,
                json,
                doc,
                generation,
                hour,
            } => {
                h.write_u8(4);
                project.hash(h);
                json.hash(h);
                doc.hash(h);
                generation.hash(h);
                hour.hash(h);
            }
            PageKey::Changelog { block } => {
                h.write_u8(5);
                block.hash(h);
            }
            PageKey::Download {
                blob_key,
                metadata,
                project,
            } => {
                h.write_u8(6);
                blob_key.hash(h);
                metadata.hash(h);
                project.hash(h);
            }
        }
    }
}

impl PageKey {
    /// The key a download request looks up (`project` unknown until found; see
    /// [`PageKey::Download`]).
    pub(crate) fn download(blob_key: &str, metadata: bool) -> PageKey {
        PageKey::Download {
            blob_key: blob_key.to_owned(),
            metadata,
            project: Rider::default(),
        }
    }

    /// The local project whose journal entries invalidate this page (`None`: not one project's).
    pub(super) fn project(&self) -> Option<&str> {
        match self {
            PageKey::Simple { project, .. } | PageKey::PypiJson { project, .. } => Some(project),
            PageKey::Download { project, .. } => Some(&project.0),
            _ => None,
        }
    }

    /// Whether any journal entry invalidates this page (it lists every project, or the serial).
    pub(super) fn is_global(&self) -> bool {
        matches!(self, PageKey::Index { .. } | PageKey::XmlRpcPackages)
    }

    pub(super) fn heap_bytes(&self) -> usize {
        match self {
            PageKey::Index { .. } | PageKey::XmlRpcPackages | PageKey::Changelog { .. } => 0,
            PageKey::Simple { project, .. } => project.len(),
            PageKey::Upstream { project, doc, .. } => {
                project.len() + doc.as_ref().and_then(Option::as_ref).map_or(0, String::len)
            }
            PageKey::PypiJson {
                project, version, ..
            } => project.len() + version.as_ref().map_or(0, String::len),
            PageKey::Download {
                blob_key, project, ..
            } => blob_key.len() + project.0.len(),
        }
    }
}

/// A key as the cache holds it: one allocation, shared by the map, the ring and the project's
/// set (each held its own copy of the key and its strings: about 300 bytes a page more).
pub(crate) type Key = Arc<PageKey>;
