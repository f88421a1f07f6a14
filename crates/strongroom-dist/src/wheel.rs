//! Wheels: ZIP validation, then exactly one top-level `.dist-info` directory holding `WHEEL`,
//! `METADATA` and `RECORD`, a RECORD that lists every file with its true hash and size, and a
//! sane `entry_points.txt`.

use std::collections::HashMap;
use std::path::Path;

use crate::paths::top_component;
use crate::record::{self, MemberHasher, RecordRow};
use crate::{DistError, Limits, entry_points, wheelfile, ziparchive};

/// Facts read from a wheel, for the core to compare with the filename and form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WheelInfo {
    /// The `.dist-info` directory as found in the archive, e.g. `foo_bar-1.0.dist-info`.
    pub dist_info_dir: String,
    /// The bytes of `<dist_info_dir>/METADATA` (served as the PEP 658 `.metadata` file).
    pub metadata: Vec<u8>,
    /// `Wheel-Version` from WHEEL, e.g. `1.0`.
    pub wheel_version: String,
    /// `Root-Is-Purelib` from WHEEL, if present.
    pub root_is_purelib: Option<bool>,
    /// The `Tag:` lines of WHEEL, in order.
    pub tags: Vec<String>,
    /// Every member name in archive order; directories end with `/`.
    pub members: Vec<String>,
    /// Whether `<dist_info_dir>/entry_points.txt` exists (it has been validated).
    pub has_entry_points: bool,
}

/// The single top-level `*.dist-info` directory.
fn find_dist_info<'a>(names: impl Iterator<Item = &'a str>) -> Result<String, DistError> {
    let mut found: Option<&str> = None;
    for name in names {
        let top = top_component(name);
        if top.len() == name.len() || !top.ends_with(".dist-info") {
            continue;
        }
        match found {
            None => found = Some(top),
            Some(first) if first != top => {
                return Err(DistError::MultipleDistInfo {
                    first: first.to_owned(),
                    second: top.to_owned(),
                });
            }
            Some(_) => {}
        }
    }
    found.map(str::to_owned).ok_or(DistError::NoDistInfo)
}

/// Inspect the wheel at `path` without extracting anything.
pub fn inspect_wheel(path: &Path, limits: &Limits) -> Result<WheelInfo, DistError> {
    let mut zip = ziparchive::open(path, limits)?;
    let dist_info_dir = find_dist_info(zip.entries().iter().map(|e| e.name.as_str()))?;
    let wheel_path = format!("{dist_info_dir}/WHEEL");
    let record_path = format!("{dist_info_dir}/RECORD");
    let metadata_path = format!("{dist_info_dir}/METADATA");
    let entry_points_path = format!("{dist_info_dir}/entry_points.txt");
    let exempt = [
        format!("{dist_info_dir}/RECORD.jws"),
        format!("{dist_info_dir}/RECORD.p7s"),
    ];

    let wheel_index = zip
        .find(&wheel_path)
        .ok_or_else(|| DistError::MissingWheelFile {
            path: wheel_path.clone(),
        })?;
    let record_index = zip
        .find(&record_path)
        .ok_or_else(|| DistError::MissingRecord {
            path: record_path.clone(),
        })?;
    let metadata_index = zip
        .find(&metadata_path)
        .ok_or_else(|| DistError::MissingMetadata {
            path: metadata_path.clone(),
        })?;
    let entry_points_index = zip.find(&entry_points_path);

    let rows = record::parse(&record_path, &zip.read_small(record_index, limits)?)?;
    let listed: HashMap<&str, &RecordRow> = rows.iter().map(|r| (r.path.as_str(), r)).collect();
    let files: HashMap<&str, usize> = zip
        .entries()
        .iter()
        .enumerate()
        .filter(|(_, e)| !e.is_dir)
        .map(|(i, e)| (e.name.as_str(), i))
        .collect();
    for entry in zip.entries().iter().filter(|e| !e.is_dir) {
        if !listed.contains_key(entry.name.as_str()) && !exempt.contains(&entry.name) {
            return Err(DistError::RecordMissingEntry {
                path: entry.name.clone(),
            });
        }
    }
    for row in &rows {
        if !files.contains_key(row.path.as_str()) {
            return Err(DistError::RecordListsMissingFile {
                path: row.path.clone(),
            });
        }
        if row.hash.is_none() && row.path != record_path && !exempt.contains(&row.path) {
            return Err(DistError::InvalidRecord {
                path: record_path.clone(),
                reason: format!("no hash for {:?}", row.path),
            });
        }
    }

    let mut metadata = Vec::new();
    let mut wheel_bytes = Vec::new();
    let mut entry_points_bytes = Vec::new();
    let members: Vec<String> = zip.entries().iter().map(|e| e.name.clone()).collect();
    for (index, name) in members.iter().enumerate() {
        if index == record_index {
            continue;
        }
        let capture = if index == metadata_index {
            Some(&mut metadata)
        } else if index == wheel_index {
            Some(&mut wheel_bytes)
        } else if Some(index) == entry_points_index {
            Some(&mut entry_points_bytes)
        } else {
            None
        };
        if capture.is_some() {
            let size = zip.entries()[index].uncompressed_size;
            limits.check_metadata(name, size)?;
        }
        let row = listed.get(name.as_str()).copied();
        let mut hasher = row
            .and_then(|r| r.hash.as_ref())
            .map(|(algo, _)| MemberHasher::new(*algo));
        let mut actual = 0u64;
        let mut capture = capture;
        zip.read_member(index, |chunk| {
            actual += chunk.len() as u64;
            if let Some(h) = hasher.as_mut() {
                h.update(chunk);
            }
            if let Some(buf) = capture.as_mut() {
                buf.extend_from_slice(chunk);
            }
            Ok(())
        })?;
        let Some(row) = row else { continue };
        if let (Some((_, expected)), Some(h)) = (&row.hash, hasher)
            && h.finish() != *expected
        {
            return Err(DistError::RecordHashMismatch { path: name.clone() });
        }
        if let Some(expected) = row.size
            && expected != actual
        {
            return Err(DistError::RecordSizeMismatch {
                path: name.clone(),
                expected,
                actual,
            });
        }
    }

    let wheel = wheelfile::parse(&wheel_path, &wheel_bytes)?;
    if entry_points_index.is_some() {
        entry_points::validate(&entry_points_bytes)?;
    }
    Ok(WheelInfo {
        dist_info_dir,
        metadata,
        wheel_version: wheel.version,
        root_is_purelib: wheel.root_is_purelib,
        tags: wheel.tags,
        members,
        has_entry_points: entry_points_index.is_some(),
    })
}
