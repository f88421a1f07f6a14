//! Validation of the legacy upload form and of the file against it (PyPI's rules and messages).

use subtle::ConstantTimeEq;

use strongroom_dist::Digests;
use strongroom_protocol::filename::DistFilename;
use strongroom_protocol::name::ProjectName;
use strongroom_protocol::version::Version;

use crate::CoreError;

const METADATA_HELP: &str =
    "See https://packaging.python.org/specifications/core-metadata for more information.";

/// The non-file fields of a legacy upload, in the order sent (keys may repeat).
#[derive(Debug, Clone, Default)]
pub struct UploadForm {
    pub fields: Vec<(String, String)>,
}

impl UploadForm {
    /// The first value of `key`, if any.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A non-empty first value of `key`.
    pub fn non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).map(str::trim).filter(|v| !v.is_empty())
    }
}

/// The validated essentials of the form.
#[derive(Debug, Clone)]
pub(crate) struct CheckedForm {
    pub name: ProjectName,
    pub version: Version,
    pub filetype: String,
    pub pyversion: String,
    pub md5: Option<String>,
    pub sha256: Option<String>,
    pub blake2: Option<String>,
    pub comment: Option<String>,
}

fn invalid_field(value: &str, field: &str, err: &str) -> CoreError {
    CoreError::Invalid(format!(
        "'{value}' is an invalid value for {field}. Error: {err} {METADATA_HELP}"
    ))
}

/// Check the form fields as Warehouse's forklift does, first error wins.
pub(crate) fn check_form(form: &UploadForm) -> Result<CheckedForm, CoreError> {
    if let Some(pv) = form.get("protocol_version")
        && pv.trim() != "1"
    {
        return Err(CoreError::Invalid("Unknown protocol version.".into()));
    }
    let mv = form.non_empty("metadata_version").unwrap_or("");
    if mv.is_empty() {
        return Err(invalid_field(
            "",
            "Metadata-Version",
            "This field is required.",
        ));
    }
    // 2.0 was written by old bdist_wheel; the file's own metadata decides under strict_metadata.
    if mv != "2.0" && !strongroom_protocol::metadata::SUPPORTED_METADATA_VERSIONS.contains(&mv) {
        return Err(CoreError::Invalid(format!(
            "'{mv}' is not a valid metadata version. {METADATA_HELP}"
        )));
    }
    let raw_name = form.non_empty("name").unwrap_or("");
    if raw_name.is_empty() {
        return Err(invalid_field("", "Name", "This field is required."));
    }
    let name = ProjectName::new(raw_name).map_err(|_| {
        invalid_field(
            raw_name,
            "Name",
            "Start and end with a letter or numeral containing only ASCII numeric and '.', '_' and '-'.",
        )
    })?;
    let raw_version = form.non_empty("version").unwrap_or("");
    if raw_version.is_empty() {
        return Err(invalid_field("", "Version", "This field is required."));
    }
    let version = Version::parse(raw_version)
        .map_err(|e| invalid_field(raw_version, "Version", &e.to_string()))?;
    if version.is_local() {
        return Err(CoreError::Invalid(format!(
            "The use of local versions in <Version('{raw_version}')> is not allowed. {METADATA_HELP}"
        )));
    }
    let filetype = form.non_empty("filetype").unwrap_or("").to_owned();
    if filetype != "sdist" && filetype != "bdist_wheel" {
        return Err(CoreError::Invalid(
            "Invalid value for filetype. Error: Use a known file type.".into(),
        ));
    }
    let pyversion = form.get("pyversion").unwrap_or("").trim().to_owned();
    if filetype == "sdist" {
        if !pyversion.is_empty() && pyversion != "source" {
            return Err(CoreError::Invalid(
                "Invalid value for pyversion. Error: Use 'source' as Python version for an sdist."
                    .into(),
            ));
        }
    } else if pyversion.is_empty() {
        return Err(CoreError::Invalid(
            "Invalid value for pyversion. Error: Python version is required for binary distribution uploads.".into(),
        ));
    }
    let hexdigest = |key: &str, what: &str, len: usize| -> Result<Option<String>, CoreError> {
        match form.non_empty(key) {
            None => Ok(None),
            Some(v) if v.len() == len && v.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Ok(Some(v.to_ascii_lowercase()))
            }
            Some(_) => Err(CoreError::Invalid(format!(
                "Invalid value for {key}. Error: Use a valid, hex-encoded, {what} message digest."
            ))),
        }
    };
    let md5 = hexdigest("md5_digest", "MD5", 32)?;
    let sha256 = hexdigest("sha256_digest", "SHA256", 64)?;
    let blake2 = hexdigest("blake2_256_digest", "BLAKE2", 64)?;
    if md5.is_none() && sha256.is_none() && blake2.is_none() {
        return Err(CoreError::Invalid(
            "Include at least one message digest.".into(),
        ));
    }
    let comment = form.non_empty("comment").map(str::to_owned);
    Ok(CheckedForm {
        name,
        version,
        filetype: if filetype == "sdist" {
            filetype
        } else {
            "bdist_wheel".into()
        },
        pyversion: if pyversion.is_empty() {
            "source".into()
        } else {
            pyversion
        },
        md5,
        sha256,
        blake2,
        comment,
    })
}

/// Parse the filename and check it against the form: extension for the file type, the project
/// name and the version. With `strict`, PyPI's current rules (PEP 625 sdist names, normalised
/// wheel names) apply as well; without, legacy names that normalise to the project are accepted
/// (private indexes hold copies of files PyPI already hosts).
pub(crate) fn check_filename(
    filename: &str,
    form: &CheckedForm,
    strict: bool,
) -> Result<DistFilename, CoreError> {
    let invalid =
        |e: strongroom_protocol::filename::FilenameError| CoreError::Invalid(e.to_string());
    strongroom_protocol::filename::check_basic(filename).map_err(invalid)?;
    strongroom_protocol::filename::check_extension_for_filetype(filename, &form.filetype)
        .map_err(invalid)?;
    let mut parsed = DistFilename::parse(filename).map_err(invalid)?;
    if let DistFilename::Sdist(_) = parsed {
        // A version may itself contain '-' (ctx's `0.1.2-1`): prefer the split the form names.
        if let Ok(s) =
            strongroom_protocol::filename::SdistFilename::parse_for_version(filename, &form.version)
        {
            parsed = DistFilename::Sdist(s);
        }
    }
    let normalized = form.name.normalized();
    if strict {
        parsed
            .check_release(filename, form.name.as_str(), &normalized, &form.version)
            .map_err(invalid)?;
    }
    let (name_part, file_version) = match &parsed {
        DistFilename::Wheel(w) => (w.name.as_str(), &w.version),
        DistFilename::Sdist(s) => (s.name.as_str(), &s.version),
    };
    if !strongroom_protocol::filename::name_matches_project(name_part, &normalized) {
        return Err(CoreError::Invalid(format!(
            "Start filename for '{}' with '{}'.",
            form.name.as_str(),
            normalized.underscored()
        )));
    }
    if file_version.canonical() != form.version.canonical() {
        return Err(CoreError::Invalid(format!(
            "Version in filename should be '{}' not '{}'.",
            form.version.normalized(),
            file_version.normalized()
        )));
    }
    if let DistFilename::Wheel(w) = &parsed
        && let Some(tag) = w.unsupported_platform_tag()
    {
        return Err(CoreError::Invalid(format!(
            "Binary wheel '{filename}' has an unsupported platform tag '{tag}'."
        )));
    }
    Ok(parsed)
}

/// Compare every digest the client sent with the server's, in constant time.
pub(crate) fn check_digests(form: &CheckedForm, d: &Digests) -> Result<(), CoreError> {
    let pairs = [
        (form.md5.as_deref(), d.md5_hex()),
        (form.sha256.as_deref(), d.sha256_hex()),
        (form.blake2.as_deref(), d.blake2b_256_hex()),
    ];
    for (sent, ours) in pairs {
        if let Some(sent) = sent
            && !bool::from(sent.as_bytes().ct_eq(ours.as_bytes()))
        {
            return Err(CoreError::Invalid(
                "The digest supplied does not match a digest calculated from the uploaded file."
                    .into(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> UploadForm {
        let mut f = UploadForm::default();
        let base = [
            (":action", "file_upload"),
            ("protocol_version", "1"),
            ("metadata_version", "2.1"),
            ("name", "Demo.Pkg"),
            ("version", "1.0"),
            ("filetype", "bdist_wheel"),
            ("pyversion", "py3"),
            ("sha256_digest", "aa"),
        ];
        for (k, v) in base {
            let v = pairs
                .iter()
                .find(|(pk, _)| *pk == k)
                .map_or(v, |(_, pv)| *pv);
            f.fields.push((k.to_owned(), v.to_owned()));
        }
        for (k, v) in pairs {
            if !base.iter().any(|(bk, _)| bk == k) {
                f.fields.push(((*k).to_owned(), (*v).to_owned()));
            }
        }
        f
    }

    const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn err(r: Result<CheckedForm, CoreError>) -> String {
        match r {
            Err(CoreError::Invalid(m)) => m,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn form_rules_and_messages() {
        let ok = check_form(&form(&[("sha256_digest", SHA)])).expect("valid");
        assert_eq!(
            (ok.name.as_str(), ok.pyversion.as_str()),
            ("Demo.Pkg", "py3")
        );
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("protocol_version", "2")], "Unknown protocol version."),
            (
                &[("name", "")],
                "'' is an invalid value for Name. Error: This field is required.",
            ),
            (
                &[("name", "bad name!")],
                "'bad name!' is an invalid value for Name.",
            ),
            (
                &[("version", "")],
                "'' is an invalid value for Version. Error: This field is required.",
            ),
            (
                &[("version", "not a version")],
                "'not a version' is an invalid value for Version.",
            ),
            (
                &[("version", "1.0+evil")],
                "The use of local versions in <Version('1.0+evil')> is not allowed.",
            ),
            (&[("filetype", "bdist_egg")], "Use a known file type."),
            (
                &[("pyversion", "")],
                "Python version is required for binary distribution uploads.",
            ),
            (
                &[("filetype", "sdist"), ("pyversion", "py3")],
                "Use 'source' as Python version for an sdist.",
            ),
            (
                &[("sha256_digest", "")],
                "Include at least one message digest.",
            ),
            (
                &[("sha256_digest", "xyz")],
                "Use a valid, hex-encoded, SHA256 message digest.",
            ),
            (
                &[("sha256_digest", SHA), ("blake2_256_digest", "12")],
                "Use a valid, hex-encoded, BLAKE2 message digest.",
            ),
            (
                &[("metadata_version", "")],
                "is an invalid value for Metadata-Version",
            ),
            (
                &[("metadata_version", "3.0")],
                "'3.0' is not a valid metadata version.",
            ),
        ];
        for (pairs, want) in cases {
            let got = err(check_form(&form(pairs)));
            assert!(got.contains(want), "{pairs:?}: {got}");
        }
    }

    #[test]
    fn filenames_against_the_form() {
        let wheel = check_form(&form(&[("sha256_digest", SHA)])).expect("form");
        let sdist = check_form(&form(&[
            ("sha256_digest", SHA),
            ("filetype", "sdist"),
            ("pyversion", "source"),
        ]))
        .expect("form");
        // Accepted, including legacy names that normalise to the project.
        for (f, name) in [
            (&wheel, "demo_pkg-1.0-py3-none-any.whl"),
            (&wheel, "Demo.Pkg-1.0.0-py3-none-any.whl"),
            (&sdist, "demo_pkg-1.0.tar.gz"),
            (&sdist, "Demo.Pkg-1.0.tar.gz"),
        ] {
            assert!(check_filename(name, f, false).is_ok(), "{name}");
        }
        let bad = |f: &CheckedForm, name: &str, strict: bool| match check_filename(name, f, strict)
        {
            Err(CoreError::Invalid(m)) => m,
            other => panic!("{name}: expected Invalid, got {other:?}"),
        };
        assert!(
            bad(&wheel, "other-1.0-py3-none-any.whl", false)
                .contains("Start filename for 'Demo.Pkg' with 'demo_pkg'.")
        );
        assert!(
            bad(&wheel, "demo_pkg-2.0-py3-none-any.whl", false)
                .contains("Version in filename should be '1.0' not '2.0'.")
        );
        assert!(bad(&wheel, "demo_pkg-1.0.tar.gz", false).contains("Invalid file extension"));
        assert!(
            bad(&sdist, "demo_pkg-1.0-py3-none-any.whl", false).contains("Invalid file extension")
        );
        assert!(
            bad(&wheel, "demo_pkg-1.0-py3-none-linux_x86_64.whl", false)
                .contains("unsupported platform tag 'linux_x86_64'")
        );
        assert!(bad(&wheel, "demo_pkg-1.0.exe", false).contains("Invalid file extension"));
        assert!(bad(&wheel, "../demo_pkg-1.0-py3-none-any.whl", false).contains("'/'"));
        // Strict: PEP 625 / normalised wheel names only.
        assert!(
            bad(&sdist, "Demo.Pkg-1.0.tar.gz", true).contains("should be 'demo_pkg-1.0.tar.gz'")
        );
        assert!(check_filename("demo_pkg-1.0.tar.gz", &sdist, true).is_ok());
        // A version containing '-' (ctx's 0.1.2-1 is 0.1.2.post1).
        let ctx = check_form(&form(&[
            ("sha256_digest", SHA),
            ("filetype", "sdist"),
            ("pyversion", "source"),
            ("name", "ctx"),
            ("version", "0.1.2-1"),
        ]))
        .expect("form");
        assert!(check_filename("ctx-0.1.2-1.tar.gz", &ctx, false).is_ok());
    }
}
