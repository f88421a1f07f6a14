//! The archive's own checks at upload: its metadata parsed and validated against the form
//! and the filename, an sdist's top folder, a wheel's tags (strongroom-dist reads the archive).

use std::path::PathBuf;

use strongroom_dist::Limits;
use strongroom_protocol::filename::DistFilename;
use strongroom_protocol::metadata::CoreMetadata;

use crate::CoreError;
use crate::upload_checks::CheckedForm;

/// What the archive inspection found.
pub(super) enum Inspected {
    Wheel(strongroom_dist::WheelInfo),
    Sdist(strongroom_dist::SdistInfo),
}

impl Inspected {
    pub(super) fn metadata_bytes(&self) -> &[u8] {
        match self {
            Inspected::Wheel(w) => &w.metadata,
            Inspected::Sdist(s) => &s.pkg_info,
        }
    }

    pub(super) fn members(&self) -> &[String] {
        match self {
            Inspected::Wheel(w) => &w.members,
            Inspected::Sdist(s) => &s.members,
        }
    }
}

pub(super) async fn inspect(path: PathBuf, parsed: DistFilename) -> Result<Inspected, CoreError> {
    let limits = Limits::default();
    let result = tokio::task::spawn_blocking(move || match parsed {
        DistFilename::Wheel(_) => {
            strongroom_dist::inspect_wheel(&path, &limits).map(Inspected::Wheel)
        }
        DistFilename::Sdist(s) => {
            let kind = match s.kind {
                strongroom_protocol::filename::SdistKind::TarGz => {
                    strongroom_dist::SdistKind::TarGz
                }
                strongroom_protocol::filename::SdistKind::Zip => strongroom_dist::SdistKind::Zip,
            };
            strongroom_dist::inspect_sdist(&path, kind, &limits).map(Inspected::Sdist)
        }
    })
    .await
    .map_err(|e| CoreError::Internal(format!("inspection task failed: {e}")))?;
    result.map_err(|e| match e {
        strongroom_dist::DistError::Io(io) => {
            CoreError::Internal(format!("reading the uploaded file: {io}"))
        }
        other => CoreError::Invalid(format!("Invalid distribution file. {other}")),
    })
}

/// Rules PyPI added after many of the files it hosts were published: a field newer than the
/// declared Metadata-Version, classifiers deprecated since (unknown classifiers were never
/// accepted, so they stay refused). Private indexes hold
/// copies of those files, so these are enforced only with `strict_metadata`.
fn is_historical_rule(e: &strongroom_protocol::metadata::MetadataError) -> bool {
    let msg = e.to_string();
    (e.field() == Some("classifier") && msg.contains("has been deprecated"))
        || msg.contains("introduced in metadata version")
}

/// Parse and validate the file's own metadata and make sure it agrees with the form and filename.
pub(super) fn check_metadata(
    form: &CheckedForm,
    parsed: &DistFilename,
    inspected: &Inspected,
    strict_metadata: bool,
) -> Result<CoreMetadata, CoreError> {
    let md = CoreMetadata::parse(inspected.metadata_bytes())
        .map_err(|e| CoreError::Invalid(format!("Invalid distribution file. {e}")))?;
    // Metadata-Version 2.0 was never a standard but bdist_wheel wrote it for years, and PyPI
    // hosts those files: outside strict mode they are checked by the 2.1 rules.
    let errors = if !strict_metadata && md.metadata_version.as_deref() == Some("2.0") {
        let mut as_21 = md.clone();
        as_21.metadata_version = Some("2.1".into());
        as_21.validate_all()
    } else {
        md.validate_all()
    };
    if let Some(e) = errors
        .iter()
        .find(|e| strict_metadata || !is_historical_rule(e))
    {
        return Err(CoreError::Invalid(e.upload_message()));
    }
    let file_name = md.name.clone().unwrap_or_default();
    if strongroom_protocol::name::normalize(&file_name) != form.name.normalized().as_str() {
        return Err(CoreError::Invalid(format!(
            "The name in the file's metadata ('{file_name}') does not match the upload form ('{}').",
            form.name.as_str()
        )));
    }
    let file_version = md.version.clone().unwrap_or_default();
    let same_version = strongroom_protocol::version::Version::parse(&file_version)
        .map(|v| v.canonical() == form.version.canonical())
        .unwrap_or(false);
    if !same_version {
        return Err(CoreError::Invalid(format!(
            "The version in the file's metadata ('{file_version}') does not match the upload form ('{}').",
            form.version.raw()
        )));
    }
    // License-File must name real files only from Metadata 2.4 (PEP 639) on: older metadata
    // (setuptools wrote License-File into 2.1/2.2 for years) put them elsewhere, as PyPI allows.
    let pep639 = md.metadata_version.as_deref().is_some_and(|v| {
        let mut it = v.trim().split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        (it.next().unwrap_or(0), it.next().unwrap_or(0)) >= (2, 4)
    });
    match (parsed, inspected) {
        (DistFilename::Wheel(w), Inspected::Wheel(info)) => {
            check_wheel(form, w, info, &md, pep639)?
        }
        (DistFilename::Sdist(_), Inspected::Sdist(info)) => {
            check_sdist_top_dir(form, info)?;
            for lic in md.license_files.iter().filter(|_| pep639) {
                let path = format!("{}/{}", info.top_dir, lic);
                if !inspected.members().iter().any(|m| m == &path) {
                    return Err(CoreError::Invalid(format!(
                        "License-File {lic} does not exist in distribution file."
                    )));
                }
            }
        }
        _ => return Err(CoreError::Internal("inspection kind mismatch".into())),
    }
    Ok(md)
}

/// The sdist's single top-level folder (every member is inside it; `strongroom-dist` checked
/// that) must be `{name}-{version}` of this release, in any spelling real sdists use.
fn check_sdist_top_dir(
    form: &CheckedForm,
    info: &strongroom_dist::SdistInfo,
) -> Result<(), CoreError> {
    let project = form.name.normalized();
    if strongroom_protocol::dist_dir_matches(&info.top_dir, &project, &form.version) {
        return Ok(());
    }
    Err(CoreError::Invalid(format!(
        "Invalid distribution file. The sdist's top-level directory '{}' does not match the project and version (expected '{}-{}').",
        info.top_dir,
        project.underscored(),
        form.version.normalized()
    )))
}

fn check_wheel(
    form: &CheckedForm,
    w: &strongroom_protocol::filename::WheelFilename,
    info: &strongroom_dist::WheelInfo,
    md: &CoreMetadata,
    pep639: bool,
) -> Result<(), CoreError> {
    let ok = info
        .dist_info_dir
        .strip_suffix(".dist-info")
        .is_some_and(|dir| {
            strongroom_protocol::dist_dir_matches(dir, &form.name.normalized(), &form.version)
        });
    if !ok {
        return Err(CoreError::Invalid(format!(
            "Invalid distribution file. The .dist-info directory '{}' does not match the project and version.",
            info.dist_info_dir
        )));
    }
    if !info.tags.is_empty() {
        // Tag lines may themselves be compressed tag sets (maturin writes `cp311-cp311-a.b`).
        let listed = expand_tags(&info.tags);
        for tag in expand_tags(&[format!(
            "{}-{}-{}",
            w.python_tags.join("."),
            w.abi_tags.join("."),
            w.platform_tags.join(".")
        )]) {
            if !listed.contains(&tag) {
                return Err(CoreError::Invalid(format!(
                    "Invalid distribution file. The wheel's filename tag '{tag}' is not listed in its WHEEL file."
                )));
            }
        }
    }
    for lic in md.license_files.iter().filter(|_| pep639) {
        let path = format!("{}/licenses/{}", info.dist_info_dir, lic);
        if !info.members.iter().any(|m| m == &path) {
            return Err(CoreError::Invalid(format!(
                "License-File {lic} does not exist in distribution file."
            )));
        }
    }
    Ok(())
}

/// Expand compressed tag sets (`py2.py3-none-any` → `py2-none-any`, `py3-none-any`).
fn expand_tags(tags: &[String]) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for t in tags {
        let mut parts = t.trim().splitn(3, '-');
        let (Some(py), Some(abi), Some(plat)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        for p in py.split('.') {
            for a in abi.split('.') {
                for pl in plat.split('.') {
                    out.insert(format!("{p}-{a}-{pl}"));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::expand_tags;

    #[test]
    fn only_rules_newer_than_hosted_files_are_relaxed() {
        use strongroom_protocol::metadata::CoreMetadata;
        let md = |extra: &str| {
            CoreMetadata::parse(
                format!("Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n{extra}").as_bytes(),
            )
            .expect("parses")
        };
        let relaxed = |m: &CoreMetadata| m.validate_all().iter().all(super::is_historical_rule);
        // Deprecated since: relaxed outside strict mode.
        let deprecated = md("Classifier: License :: OSI Approved :: Intel Open Source License\n");
        assert!(!deprecated.validate_all().is_empty());
        assert!(relaxed(&deprecated));
        // Never a classifier: always refused.
        let bogus = md("Classifier: Totally :: Made Up\n");
        assert!(!relaxed(&bogus));
        // A 2.4 field in 2.1 metadata: relaxed.
        let newer = md("License-Expression: MIT\n");
        assert!(!newer.validate_all().is_empty());
        assert!(relaxed(&newer));
        // A direct URL dependency: always refused.
        let direct = md("Requires-Dist: evil @ https://example.invalid/evil.whl\n");
        assert!(!relaxed(&direct));
    }

    #[test]
    fn sdist_top_dir_must_name_the_release() {
        use crate::upload_checks::CheckedForm;
        use strongroom_protocol::{ProjectName, Version};
        let form = |name: &str, version: &str| CheckedForm {
            name: ProjectName::new(name).expect("name"),
            version: Version::parse(version).expect("version"),
            filetype: "sdist".into(),
            pyversion: "source".into(),
            md5: None,
            sha256: None,
            blake2: None,
            comment: None,
        };
        let info = |top: &str| strongroom_dist::SdistInfo {
            top_dir: top.into(),
            pkg_info: Vec::new(),
            members: vec![format!("{top}/PKG-INFO")],
        };
        for (top, name, version) in [
            ("Django-1.11.29", "Django", "1.11.29"),
            ("zope.interface-4.1.3", "zope.interface", "4.1.3"),
            ("demo_pkg-1.0", "demo-pkg", "1.0.0"),
        ] {
            super::check_sdist_top_dir(&form(name, version), &info(top)).expect(top);
        }
        let e = super::check_sdist_top_dir(&form("demo-pkg", "1.0"), &info("evil-1.0"))
            .expect_err("another project's folder");
        assert_eq!(
            e.to_string(),
            "Invalid distribution file. The sdist's top-level directory 'evil-1.0' does not match the project and version (expected 'demo_pkg-1.0')."
        );
        super::check_sdist_top_dir(&form("demo-pkg", "1.0"), &info("demo_pkg-2.0"))
            .expect_err("another version's folder");
    }

    #[test]
    fn tag_sets_expand_on_both_sides() {
        let a = expand_tags(&["cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64".to_owned()]);
        assert_eq!(a.len(), 2);
        assert!(a.contains("cp311-cp311-manylinux2014_x86_64"));
        let b = expand_tags(&["py2.py3-none-any".to_owned(), "garbage".to_owned()]);
        assert_eq!(
            b.into_iter().collect::<Vec<_>>(),
            vec!["py2-none-any", "py3-none-any"]
        );
    }
}
