//! Member paths that would be one path on another file system: names that differ only in
//! letter case or Unicode normalisation, and a path that is both a file and a directory.
//!
//! Linux keeps `a/Foo.py` and `a/foo.py` (or `café` in NFC and in NFD) apart, but NTFS, APFS
//! and HFS+ do not: extracting such an archive there keeps one of the two, so what gets
//! installed depends on the machine and on member order, while RECORD vouched for both. The
//! comparison key over-approximates every common file system (NFD, then upper- and
//! lower-casing each character without context, then NFD again), so two names are refused when
//! *any* of them would merge them. A name that is merely in NFD (as macOS writes archives) is
//! fine; only two names that fold together are refused. Before folding, the key drops what
//! some file system ignores (invisible code points, trailing dots and spaces), so `a.py` and
//! `A.py.` or `a\u{200b}.py` collide too (`portable` refuses those names on their own as well).
//!
//! The check runs once over all names (sorted by folded path), so it costs O(n log n) in the
//! number of members and linear memory in the total name length, whatever the paths' depth.

use unicode_normalization::UnicodeNormalization;

use crate::DistError;

/// The member names of one archive, checked together at the end.
#[derive(Default)]
pub(crate) struct NameSet {
    /// `(folded key with components joined by NUL, name without a trailing slash, is_dir,
    /// position in the archive)`.
    names: Vec<(String, String, bool, usize)>,
}

/// The folding of one path component (see the module docs): invisible (default-ignorable)
/// code points and trailing dots and spaces go first, as HFS+ and Windows drop them, then the
/// case and normalisation folding.
fn fold_component(component: &str) -> String {
    let visible: String = component
        .chars()
        .filter(|&c| !crate::portable::is_default_ignorable(c))
        .collect();
    visible
        .trim_end_matches(['.', ' '])
        .nfd()
        .flat_map(char::to_uppercase)
        .flat_map(char::to_lowercase)
        .nfd()
        .collect()
}

/// The sort and comparison key of a path: folded components joined by NUL (a character no
/// member name contains), so that every path below a directory sorts right after it.
fn fold_path(path: &str) -> String {
    let mut key = String::with_capacity(path.len());
    for (i, component) in path.split('/').enumerate() {
        if i > 0 {
            key.push('\0');
        }
        key.push_str(&fold_component(component));
    }
    key
}

impl NameSet {
    /// Record a member (directories may end with `/`); `path` has passed `check_member_path`.
    pub fn add(&mut self, path: &str, is_dir: bool) {
        let name = path.strip_suffix('/').unwrap_or(path);
        let position = self.names.len();
        self.names
            .push((fold_path(name), name.to_owned(), is_dir, position));
    }

    /// Refuse two names that fold together, and a file that is also a directory.
    ///
    /// Exact duplicates are the callers' to refuse first (with their own messages).
    pub fn check(mut self) -> Result<(), DistError> {
        // Files before directories of the same name, so a file is always the `a` of its pair.
        self.names
            .sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        for pair in self.names.windows(2) {
            let [(key_a, name_a, dir_a, pos_a), (key_b, name_b, _, pos_b)] = pair else {
                continue;
            };
            // Components the two folded paths share (both sides split into the same number).
            let common = key_a
                .split('\0')
                .zip(key_b.split('\0'))
                .take_while(|(a, b)| a == b)
                .count();
            let spelled_a: Vec<&str> = name_a.split('/').take(common).collect();
            let spelled_b: Vec<&str> = name_b.split('/').take(common).collect();
            if let Some(differ) = spelled_a.iter().zip(&spelled_b).position(|(a, b)| a != b) {
                let (a, b) = (
                    spelled_a[..=differ].join("/"),
                    spelled_b[..=differ].join("/"),
                );
                // Named in archive order.
                let (first, second) = if pos_a < pos_b { (a, b) } else { (b, a) };
                return Err(DistError::CaseCollision { first, second });
            }
            // Same spelling so far: `a` is a prefix of `b` (or equal to it) only as a directory.
            let a_len = key_a.split('\0').count();
            if common == a_len && !dir_a {
                return Err(DistError::FileIsDirectory {
                    path: name_a.clone(),
                });
            }
        }
        Ok(())
    }
}
