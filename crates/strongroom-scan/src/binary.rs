//! Native binaries by their magic bytes (ELF, PE, Mach-O) and large opaque members (M14).
//!
//! Only the first [`SNIFF_BYTES`] of a member are ever looked at. A native binary is always noted
//! (`SR-native-binary`, Info, capability `bundled-binary` on the member); it becomes an
//! `SR-M14-bundled-binary` finding only in an sdist or a pure-Python wheel (where nothing native
//! belongs) and only when some member of the archive starts processes: High when such a member
//! names the binary (its file name or stem appears in that source), Medium otherwise. The Windows
//! script launchers setuptools and distlib ship (`setuptools/cli-64.exe`,
//! `pip/_vendor/distlib/t64.exe`, …) are noted without the capability and never count for M14:
//! they are in every release of the most installed projects.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

/// How many leading bytes of a member are read to recognise a binary (a PE header's `PE\0\0`
/// signature sits at the offset the DOS header names, within the first few hundred bytes).
pub const SNIFF_BYTES: usize = 4096;

/// The executable formats recognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BinaryKind {
    Elf,
    Pe,
    MachO,
}

impl BinaryKind {
    /// The name shown in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryKind::Elf => "ELF",
            BinaryKind::Pe => "PE",
            BinaryKind::MachO => "Mach-O",
        }
    }
}

/// Recognise a native executable or library from the first bytes of a member.
///
/// PE needs the `PE\0\0` signature where the DOS header's `e_lfanew` points (within `head`), so
/// a text file that happens to start with `MZ` is not one. `0xCAFEBABE` is both a fat Mach-O and
/// a Java class file: it is Mach-O only when the next word (the architecture count) is small,
/// where a class file has its major version (45 or more).
pub fn sniff(head: &[u8]) -> Option<BinaryKind> {
    let word = |at: usize| -> Option<[u8; 4]> { head.get(at..at + 4)?.try_into().ok() };
    let magic = word(0)?;
    match magic {
        [0x7f, b'E', b'L', b'F'] => return Some(BinaryKind::Elf),
        // 32- and 64-bit thin Mach-O, both byte orders.
        [0xfe, 0xed, 0xfa, 0xce | 0xcf] | [0xce | 0xcf, 0xfa, 0xed, 0xfe] => {
            return Some(BinaryKind::MachO);
        }
        // Fat (universal) Mach-O, 32- and 64-bit tables; big-endian on disk.
        [0xca, 0xfe, 0xba, 0xbe | 0xbf] => {
            let count = u32::from_be_bytes(word(4)?);
            return (1..=30).contains(&count).then_some(BinaryKind::MachO);
        }
        _ => {}
    }
    if magic[..2] == *b"MZ" {
        let offset = usize::try_from(u32::from_le_bytes(word(0x3c)?)).ok()?;
        if word(offset)? == *b"PE\0\0" {
            return Some(BinaryKind::Pe);
        }
    }
    None
}

/// A native binary found in the archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinaryMember {
    /// Relative to the package root.
    pub path: String,
    pub kind: BinaryKind,
}

impl BinaryMember {
    /// The file name (last path component).
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    /// The file name without its last extension (`miner.exe` → `miner`).
    pub fn stem(&self) -> &str {
        let name = self.file_name();
        match name.rsplit_once('.') {
            Some((stem, _)) if !stem.is_empty() => stem,
            _ => name,
        }
    }

    /// One of the Windows script launchers that setuptools and distlib ship for console
    /// scripts: a PE named `cli`/`gui` (optionally with a width or architecture) directly in
    /// `setuptools/`, or `t`/`w` plus a width or architecture directly in `distlib/` or pip's
    /// vendored `pip/_vendor/distlib/`.
    pub fn is_script_launcher(&self) -> bool {
        const ARCHES: [&str; 5] = ["32", "64", "arm64", "64-arm", "arm"];
        if self.kind != BinaryKind::Pe {
            return false;
        }
        let Some((folder, name)) = self.path.rsplit_once('/') else {
            return false;
        };
        let Some(stem) = name.strip_suffix(".exe") else {
            return false;
        };
        match folder {
            "setuptools" => ["cli", "gui"].iter().any(|p| {
                stem == *p
                    || stem
                        .strip_prefix(p)
                        .and_then(|r| r.strip_prefix('-'))
                        .is_some_and(|a| ARCHES.contains(&a))
            }),
            "distlib" | "pip/_vendor/distlib" => ["t", "w"]
                .iter()
                .any(|p| stem.strip_prefix(p).is_some_and(|a| ARCHES.contains(&a))),
            _ => false,
        }
    }
}

/// The words of a source that could name a file: runs of ASCII letters, digits, `_`, `-` and
/// `.`, so `os.path.join(here, "bin", "xmrig")` and `"./bin/xmrig.exe"` both yield the file's
/// name. Used to tell whether process-starting code names a bundled binary.
pub fn name_tokens(source: &[u8], into: &mut HashSet<String>) {
    for word in source.split(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))) {
        let word = trim_dots(word);
        if (2..=100).contains(&word.len())
            && let Ok(w) = std::str::from_utf8(word)
        {
            into.insert(w.to_owned());
        }
    }
}

fn trim_dots(mut w: &[u8]) -> &[u8] {
    while let [b'.', rest @ ..] = w {
        w = rest;
    }
    while let [rest @ .., b'.'] = w {
        w = rest;
    }
    w
}

/// Whether process-starting code names `binary` (see [`name_tokens`]).
pub fn is_named(binary: &BinaryMember, tokens: &HashSet<String>) -> bool {
    let name = binary.file_name();
    let stem = binary.stem();
    tokens.contains(name) || (stem.len() >= 2 && tokens.contains(stem))
}

/// Members that are data, by extension: large ones are expected and not "opaque". Compared in
/// lower case against the file name's last extension.
const DATA_EXTENSIONS: &[&str] = &[
    // Text and markup.
    "txt", "md", "rst", "json", "jsonl", "csv", "tsv", "xml", "yaml", "yml", "toml", "ini", "cfg",
    "html", "htm", "css", "js", "mjs", "map", "svg", "tex", "pyi", "typed", "in", "j2", "jinja",
    "jinja2", "tmpl", "template", "sql", "proto", "h", "hpp", "c", "cc", "cpp", "pxd", "pyx",
    "pxi", "f", "f90", "rs", "go", "java", "r", "sh", "bat", "ps1", "lock", "license",
    // Images, audio, documents.
    "png", "jpg", "jpeg", "gif", "ico", "bmp", "webp", "tif", "tiff", "icns", "pdf", "wav", "mp3",
    "ogg", // Fonts.
    "ttf", "otf", "woff", "woff2", "eot", "pfb", "afm",
    // Translations, certificates, keys.
    "mo", "po", "pot", "pem", "crt", "cer", "der", "p7b",
    // Scientific and model data formats, time zones.
    "dat", "npy", "npz", "h5", "hdf5", "nc", "parquet", "arrow", "feather", "pkl", "pickle",
    "joblib", "onnx", "pb", "tflite", "bin", "db", "sqlite", "sqlite3", "tzif", "zi", "gz", "bz2",
    "xz", "zst", "lz4",
];

/// True when the member's name says it is a data format (see [`DATA_EXTENSIONS`]); also for
/// files under `zoneinfo/` (time zone data has no extension).
pub fn is_known_data(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    if path.split('/').any(|c| c == "zoneinfo" || c == "tzdata") {
        return true;
    }
    match name.rsplit_once('.') {
        Some((_, ext)) => DATA_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pe(offset: u32) -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[..2].copy_from_slice(b"MZ");
        b[0x3c..0x40].copy_from_slice(&offset.to_le_bytes());
        let at = offset as usize;
        b[at..at + 4].copy_from_slice(b"PE\0\0");
        b
    }

    #[test]
    fn magic_bytes_are_recognised() {
        assert_eq!(sniff(b"\x7fELF\x02\x01\x01"), Some(BinaryKind::Elf));
        assert_eq!(sniff(&pe(0x80)), Some(BinaryKind::Pe));
        assert_eq!(
            sniff(b"\xcf\xfa\xed\xfe\x07\0\0\x01"),
            Some(BinaryKind::MachO)
        );
        assert_eq!(
            sniff(b"\xfe\xed\xfa\xce\0\0\0\x07"),
            Some(BinaryKind::MachO)
        );
        assert_eq!(
            sniff(b"\xce\xfa\xed\xfe\0\0\0\x07"),
            Some(BinaryKind::MachO)
        );
        // A universal binary with two architectures.
        assert_eq!(
            sniff(b"\xca\xfe\xba\xbe\0\0\0\x02"),
            Some(BinaryKind::MachO)
        );
        assert_eq!(
            sniff(b"\xca\xfe\xba\xbf\0\0\0\x02"),
            Some(BinaryKind::MachO)
        );
    }

    #[test]
    fn look_alikes_are_not_binaries() {
        // A Java class file (major version 52) shares the fat Mach-O magic.
        assert_eq!(sniff(b"\xca\xfe\xba\xbe\0\0\0\x34"), None);
        // Text that starts with MZ, and an MZ header whose PE offset points at nothing.
        assert_eq!(sniff(b"MZ is a postal code prefix, not an executable header at all ....................."), None);
        let mut broken = pe(0x80);
        broken[0x80] = b'X';
        assert_eq!(sniff(&broken), None);
        assert_eq!(sniff(b"\x7fEL"), None);
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(b"import os\n"), None);
    }

    #[test]
    fn launchers_of_setuptools_and_distlib_are_known_and_nothing_else() {
        let m = |path: &str, kind| BinaryMember {
            path: path.to_owned(),
            kind,
        };
        assert!(m("setuptools/cli-64.exe", BinaryKind::Pe).is_script_launcher());
        assert!(m("setuptools/gui-arm64.exe", BinaryKind::Pe).is_script_launcher());
        assert!(m("pip/_vendor/distlib/t64-arm.exe", BinaryKind::Pe).is_script_launcher());
        assert!(m("pip/_vendor/distlib/w32.exe", BinaryKind::Pe).is_script_launcher());
        assert!(m("setuptools/gui.exe", BinaryKind::Pe).is_script_launcher());
        assert!(!m("setuptools/miner.exe", BinaryKind::Pe).is_script_launcher());
        assert!(!m("evil/setuptools/cli-64.exe", BinaryKind::Pe).is_script_launcher());
        assert!(!m("setuptools/cli-64.dll", BinaryKind::Pe).is_script_launcher());
        assert!(!m("mypkg/cli-64.exe", BinaryKind::Pe).is_script_launcher());
        assert!(!m("setuptools/cli-64.exe", BinaryKind::Elf).is_script_launcher());
    }

    #[test]
    fn a_binary_is_named_by_its_file_name_or_stem() {
        let mut tokens = HashSet::new();
        name_tokens(
            br#"p = os.path.join(os.path.dirname(__file__), "bin", "xmrig")
subprocess.Popen(["./tools/helper.exe"])"#,
            &mut tokens,
        );
        let m = |path: &str| BinaryMember {
            path: path.to_owned(),
            kind: BinaryKind::Elf,
        };
        assert!(is_named(&m("pkg/bin/xmrig"), &tokens));
        assert!(is_named(&m("pkg/bin/xmrig.exe"), &tokens));
        assert!(is_named(&m("pkg/tools/helper.exe"), &tokens));
        assert!(!is_named(&m("pkg/bin/other"), &tokens));
    }

    #[test]
    fn data_formats_are_known_and_others_are_not() {
        for p in [
            "a/b/data.JSON",
            "fonts/x.woff2",
            "certifi/cacert.pem",
            "tzdata/zoneinfo/Europe/Paris",
            "m.npz",
        ] {
            assert!(is_known_data(p), "{p}");
        }
        for p in [
            "a/blob",
            "a/payload.xyz",
            "pkg/_core.so",
            "pkg/thing.pyc",
            "pkg/inner.whl",
        ] {
            assert!(!is_known_data(p), "{p}");
        }
    }
}
