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
/// name and the version.
pub(crate) fn check_filename(
    filename: &str,
    form: &CheckedForm,
    strict: bool,
) -> Result<DistFilename, CoreError> {
    let parsed = DistFilename::parse(filename).map_err(|e| CoreError::Invalid(e.to_string()))?;
    let ext_err = || {
        CoreError::Invalid(
            "Invalid file extension: Use .tar.gz, .whl or .zip extension. See https://www.python.org/dev/peps/pep-0527 and https://peps.python.org/pep-0715/ for more information"
                .into(),
        )
    };
    let normalized = form.name.normalized();
    let (name_part, file_version) = match &parsed {
        DistFilename::Wheel(w) => {
            if form.filetype != "bdist_wheel" {
                return Err(ext_err());
            }
            (w.name.clone(), w.version.clone())
        }
        DistFilename::Sdist(s) => {
            if form.filetype != "sdist" {
                return Err(ext_err());
            }
            (s.name.clone(), s.version.clone())
        }
    };
    if strongroom_protocol::name::normalize(&name_part) != normalized.as_str() {
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
            file_version.raw()
        )));
    }
    if strict {
        let expected = match &parsed {
            DistFilename::Sdist(_) => {
                strongroom_protocol::filename::expected_sdist_filename(&normalized, &form.version)
            }
            DistFilename::Wheel(w) => {
                let want = strongroom_protocol::filename::expected_wheel_name_part(&normalized);
                if w.name == want && w.version.raw() == form.version.normalized() {
                    filename.to_owned()
                } else {
                    filename.replacen(
                        &format!("{}-{}", w.name, w.version.raw()),
                        &format!("{want}-{}", form.version.normalized()),
                        1,
                    )
                }
            }
        };
        if expected != filename {
            return Err(CoreError::Invalid(format!(
                "Filename '{filename}' is invalid, should be '{expected}'."
            )));
        }
    }
    if let DistFilename::Wheel(w) = &parsed {
        for tag in &w.platform_tags {
            if !strongroom_protocol::filename::is_allowed_platform_tag(tag) {
                return Err(CoreError::Invalid(format!(
                    "Binary wheel '{filename}' has an unsupported platform tag '{tag}'."
                )));
            }
        }
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
