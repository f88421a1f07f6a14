//! The capability diff between two releases of a project: which capabilities each file gained
//! (and lost), and which kinds are new to the release as a whole.
//!
//! Files are matched by their path relative to the package root (an sdist's top directory is
//! stripped when scanning), so `ctx.py` in 0.1.2 and 0.2.2 is one file. A file new in this
//! release counts whole in `added`; a file gone counts whole in `removed`. Files whose
//! capabilities did not change do not appear.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::model::{Capability, FileCapabilities};

/// What changed from the previous release to this one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapabilityDiff {
    /// Per file: capabilities it has now and did not have before (a new file counts whole).
    pub added: FileCapabilities,
    /// Per file: capabilities it had before and no longer has.
    pub removed: FileCapabilities,
    /// Capabilities the release as a whole has and the previous one did not.
    pub new_kinds: BTreeSet<Capability>,
}

impl CapabilityDiff {
    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.new_kinds.is_empty()
    }

    /// The new kinds that raise the score ([`Capability::is_dangerous`]).
    pub fn new_dangerous_kinds(&self) -> impl Iterator<Item = Capability> + '_ {
        self.new_kinds.iter().copied().filter(|c| c.is_dangerous())
    }
}

/// `a` minus `b`, per file, keeping only files with something left.
fn minus(a: &FileCapabilities, b: &FileCapabilities) -> FileCapabilities {
    let empty = BTreeSet::new();
    a.iter()
        .filter_map(|(path, caps)| {
            let before = b.get(path).unwrap_or(&empty);
            let left: BTreeSet<Capability> = caps.difference(before).copied().collect();
            (!left.is_empty()).then(|| (path.clone(), left))
        })
        .collect()
}

fn union(files: &FileCapabilities) -> BTreeSet<Capability> {
    files.values().flatten().copied().collect()
}

/// Compare `previous` (the project's previous release, union over its files) with `current`.
pub fn diff(previous: &FileCapabilities, current: &FileCapabilities) -> CapabilityDiff {
    let before = union(previous);
    CapabilityDiff {
        added: minus(current, previous),
        removed: minus(previous, current),
        new_kinds: union(current).difference(&before).copied().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Capability::*;

    fn files(entries: &[(&str, &[Capability])]) -> FileCapabilities {
        entries
            .iter()
            .map(|(p, c)| (p.to_string(), c.iter().copied().collect()))
            .collect()
    }

    #[test]
    fn the_ctx_tell_is_added_to_ctx_py() {
        let v012 = files(&[("ctx.py", &[]), ("setup.py", &[FileWrite])]);
        let v022 = files(&[
            ("ctx.py", &[EnvironmentRead, Encoding, Network]),
            ("setup.py", &[FileWrite]),
        ]);
        let d = diff(&v012, &v022);
        assert_eq!(
            d.added,
            files(&[("ctx.py", &[EnvironmentRead, Encoding, Network])])
        );
        assert!(d.removed.is_empty());
        assert_eq!(
            d.new_kinds,
            BTreeSet::from([EnvironmentRead, Encoding, Network])
        );
        assert_eq!(
            d.new_dangerous_kinds().collect::<Vec<_>>(),
            vec![Network, EnvironmentRead]
        );
    }

    #[test]
    fn a_capability_moving_between_files_is_no_new_kind() {
        let before = files(&[("a.py", &[Network, ProcessSpawn])]);
        let after = files(&[("a.py", &[ProcessSpawn]), ("b.py", &[Network])]);
        let d = diff(&before, &after);
        assert_eq!(d.added, files(&[("b.py", &[Network])]));
        assert_eq!(d.removed, files(&[("a.py", &[Network])]));
        assert!(d.new_kinds.is_empty());
    }

    #[test]
    fn a_first_release_adds_everything_and_a_same_release_nothing() {
        let current = files(&[("x.pth", &[ExecutablePth]), ("m.py", &[Network])]);
        let d = diff(&FileCapabilities::new(), &current);
        assert_eq!(d.added, current);
        assert_eq!(d.new_kinds, BTreeSet::from([Network, ExecutablePth]));
        let same = diff(&current, &current);
        assert!(same.is_empty());
        let gone = diff(&current, &FileCapabilities::new());
        assert_eq!(gone.removed, current);
        assert!(gone.added.is_empty() && gone.new_kinds.is_empty());
    }
}
