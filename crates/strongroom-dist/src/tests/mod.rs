//! Unit tests for strongroom-dist: every hostile archive is built inside the test.

use std::io::Write;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::{DistError, Limits, SdistInfo, SdistKind, WheelInfo, inspect_sdist, inspect_wheel};

mod rawtar;
mod rawzip;
mod sdist;
mod units;
mod wheel;
mod zipframe;

use rawzip::{RawEntry, RawZip};

pub const DIST: &str = "demo_pkg-1.0.dist-info";

pub const METADATA: &[u8] =
    b"Metadata-Version: 2.4\nName: demo-pkg\nVersion: 1.0\nSummary: A demo\n";
pub const WHEEL: &[u8] =
    b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n";
pub const ENTRY_POINTS: &[u8] =
    b"[console_scripts]\ndemo = demo_pkg.core:main\ndemo-gui.x = demo_pkg:run [gui]\n\n[demo.plugins]\nfirst = demo_pkg.core\n";

/// Write `bytes` to a temporary file that lives as long as the handle.
pub fn temp_with(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    f.write_all(bytes).expect("write temp file");
    f.flush().expect("flush temp file");
    f
}

pub fn sha256_b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(data))
}

pub fn record_line(path: &str, data: &[u8]) -> String {
    format!("{path},sha256={},{}\n", sha256_b64(data), data.len())
}

/// The files of a small, valid wheel (without RECORD).
pub fn base_files() -> Vec<(String, Vec<u8>)> {
    vec![
        (
            "demo_pkg/__init__.py".into(),
            b"from .core import main\n".to_vec(),
        ),
        (
            "demo_pkg/core.py".into(),
            b"def main():\n    print('hello')\n".repeat(20),
        ),
        (format!("{DIST}/METADATA"), METADATA.to_vec()),
        (format!("{DIST}/WHEEL"), WHEEL.to_vec()),
        (format!("{DIST}/entry_points.txt"), ENTRY_POINTS.to_vec()),
        (format!("{DIST}/licenses/LICENSE"), b"MIT\n".to_vec()),
    ]
}

/// A RECORD listing `files` (and itself).
pub fn record_for(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut record = String::new();
    for (name, data) in files {
        record.push_str(&record_line(name, data));
    }
    record.push_str(&format!("{DIST}/RECORD,,\n"));
    record.into_bytes()
}

/// A raw ZIP of `files` plus a correct RECORD, all deflated.
pub fn wheel_zip(files: &[(String, Vec<u8>)]) -> RawZip {
    let mut entries: Vec<RawEntry> = files
        .iter()
        .map(|(name, data)| RawEntry::deflated(name, data))
        .collect();
    entries.push(RawEntry::deflated(
        &format!("{DIST}/RECORD"),
        &record_for(files),
    ));
    RawZip::new(entries)
}

/// The base wheel as raw entries, ready to be tampered with.
pub fn base_wheel() -> RawZip {
    wheel_zip(&base_files())
}

/// With `STRONGROOM_WRITE_CORPUS=<dir>`, every archive these tests inspect is also written to
/// `<dir>/<fuzz target>/` (how the committed seed corpora under `fuzz/corpus/` were made).
fn capture(target: &str, bytes: &[u8]) {
    let Some(root) = std::env::var_os("STRONGROOM_WRITE_CORPUS") else {
        return;
    };
    if bytes.len() > 64 * 1024 {
        return;
    }
    let dir = std::path::Path::new(&root).join(target);
    std::fs::create_dir_all(&dir).expect("corpus folder");
    let name = hex::encode(&Sha256::digest(bytes)[..10]);
    std::fs::write(dir.join(name), bytes).expect("corpus file");
}

pub fn wheel_with(bytes: &[u8], limits: &Limits) -> Result<WheelInfo, DistError> {
    capture("wheel", bytes);
    capture("zip_archive", bytes);
    let f = temp_with(bytes);
    inspect_wheel(f.path(), limits)
}

pub fn wheel(bytes: &[u8]) -> Result<WheelInfo, DistError> {
    wheel_with(bytes, &Limits::default())
}

pub fn sdist_with(bytes: &[u8], kind: SdistKind, limits: &Limits) -> Result<SdistInfo, DistError> {
    let selector = match kind {
        SdistKind::TarGz => 0u8,
        SdistKind::Zip => 1u8,
    };
    capture("sdist", &[&[selector], bytes].concat());
    if kind == SdistKind::Zip {
        capture("zip_archive", bytes);
    } else {
        let mut tar = Vec::new();
        let mut gz = flate2::read::GzDecoder::new(bytes);
        if std::io::Read::read_to_end(&mut gz, &mut tar).is_ok() {
            capture("tar_walker", &tar);
        }
    }
    let f = temp_with(bytes);
    inspect_sdist(f.path(), kind, limits)
}

pub fn sdist(bytes: &[u8], kind: SdistKind) -> Result<SdistInfo, DistError> {
    sdist_with(bytes, kind, &Limits::default())
}

/// Unwrap the error of a result that must have failed.
pub fn err<T: std::fmt::Debug>(result: Result<T, DistError>) -> DistError {
    match result {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e,
    }
}
