//! PyPI's metadata rules: packaging's `Metadata.from_raw` checks, then Warehouse's
//! `forklift/metadata.py::_validate_metadata`, with their messages and error priority.

use std::str::FromStr;

use super::checks::{
    check_email, content_type_error, extract_address, has_line_boundary, import_name_error,
    is_valid_http_url, is_valid_license_expression, license_file_problem,
};
use super::classifiers::{deprecated_classifier_replacements, is_known_classifier};
use super::fields::{Field, LEGACY_HEADERS};
use super::{CoreMetadata, MetadataError, SUPPORTED_METADATA_VERSIONS};
use crate::name::is_valid_project_name;
use crate::pyrepr::{py_repr, py_repr_list};
use crate::version::{Version, validate_requires_python};

const SUMMARY_LIMIT: usize = 512;
const PROJECT_URL_LABEL_LIMIT: usize = 32;

/// Fields whose errors PyPI reports first, in this order.
const PRIORITY: &[&str] = &["metadata-version", "name", "version"];

/// PyPI's choice of the one error to report.
pub(crate) fn pick_first(errors: Vec<MetadataError>) -> Option<MetadataError> {
    for field in PRIORITY {
        if let Some(err) = errors.iter().find(|e| e.field() == Some(field)) {
            return Some(err.clone());
        }
    }
    let mut best: Option<&MetadataError> = None;
    for err in &errors {
        if best.is_none_or(|b| err.field() < b.field()) {
            best = Some(err);
        }
    }
    best.cloned()
}

pub(crate) fn validate_all(meta: &CoreMetadata) -> Vec<MetadataError> {
    let unparsed = unparsed_errors(meta);
    if !unparsed.is_empty() {
        return unparsed;
    }
    let basic = packaging_errors(meta);
    if !basic.is_empty() {
        return basic;
    }
    warehouse_errors(meta)
}

/// Data packaging cannot even parse: duplicate Project-URL labels.
fn unparsed_errors(meta: &CoreMetadata) -> Vec<MetadataError> {
    let urls = meta.project_urls();
    let duplicate = urls
        .iter()
        .enumerate()
        .any(|(i, (label, _))| urls[..i].iter().any(|(other, _)| other == label));
    if duplicate {
        vec![MetadataError::Unparsable {
            field: "project-url".to_owned(),
        }]
    } else {
        Vec::new()
    }
}

/// packaging's per-field checks (first problem per field).
fn packaging_errors(meta: &CoreMetadata) -> Vec<MetadataError> {
    let mut errors = Vec::new();
    let metadata_version = match meta.metadata_version.as_deref() {
        None => {
            errors.push(required(Field::MetadataVersion));
            None
        }
        Some(v) if SUPPORTED_METADATA_VERSIONS.contains(&v) => Some(v),
        Some(v) => {
            errors.push(MetadataError::invalid(
                "metadata-version",
                format!("{} is not a valid metadata version", py_repr(v)),
            ));
            None
        }
    };
    for field in Field::all().filter(|f| *f != Field::MetadataVersion) {
        let required_field = matches!(field, Field::Name | Field::Version);
        if !meta.has(field) && !required_field {
            continue;
        }
        if let Some(mv) = metadata_version {
            // License-File predates 2.4 in setuptools output (2.1/2.2 files), so it is
            // accepted there rather than refusing a large share of real wheels.
            if meta.has(field) && field.added() > mv && field != Field::LicenseFile {
                errors.push(MetadataError::invalid(
                    field.email_name(),
                    format!(
                        "{} introduced in metadata version {}, not {mv}",
                        field.email_name(),
                        field.added()
                    ),
                ));
                continue;
            }
        }
        if let Some(err) = field_error(meta, field) {
            errors.push(err);
        }
    }
    errors
}

fn required(field: Field) -> MetadataError {
    MetadataError::invalid(
        field.email_name(),
        format!("{} is a required field", py_repr(field.email_name())),
    )
}

fn invalid_for(field: Field, value: &str) -> MetadataError {
    MetadataError::invalid(
        field.email_name(),
        format!(
            "{} is invalid for {}",
            py_repr(value),
            py_repr(field.email_name())
        ),
    )
}

/// The first packaging-level problem with one field, if any.
fn field_error(meta: &CoreMetadata, field: Field) -> Option<MetadataError> {
    let email = field.email_name();
    match field {
        Field::Name => match meta.name.as_deref() {
            None => Some(required(field)),
            Some(v) if !is_valid_project_name(v) => Some(invalid_for(field, v)),
            Some(_) => None,
        },
        Field::Version => match meta.version.as_deref() {
            None => Some(required(field)),
            Some(v) => Version::parse(v).err().map(|_| invalid_for(field, v)),
        },
        Field::Summary => meta
            .summary
            .as_deref()
            .filter(|s| has_line_boundary(s))
            .map(|_| {
                MetadataError::invalid(email, format!("{} must be a single line", py_repr(email)))
            }),
        Field::DescriptionContentType => meta
            .description_content_type
            .as_deref()
            .and_then(content_type_error)
            .map(|msg| MetadataError::invalid(email, msg)),
        Field::Dynamic => meta.dynamic.iter().find_map(|entry| {
            let lower = entry.to_ascii_lowercase();
            if matches!(lower.as_str(), "name" | "version" | "metadata-version") {
                Some(format!(
                    "{} is not allowed as a dynamic field",
                    py_repr(&lower)
                ))
            } else if Field::from_header(&lower).is_none()
                && !LEGACY_HEADERS.contains(&lower.as_str())
            {
                Some(format!("{} is not a valid dynamic field", py_repr(&lower)))
            } else {
                None
            }
            .map(|msg| MetadataError::invalid(email, msg))
        }),
        Field::ProvidesExtra => meta
            .provides_extra
            .iter()
            .find(|extra| !is_valid_project_name(extra))
            .map(|extra| invalid_for(field, extra)),
        Field::RequiresPython => meta
            .requires_python
            .as_deref()
            .filter(|v| validate_requires_python(v).is_err())
            .map(|v| invalid_for(field, v)),
        Field::RequiresDist => meta
            .requires_dist
            .iter()
            .find(|req| parse_requirement(req).is_err())
            .map(|req| invalid_for(field, req)),
        Field::LicenseExpression => meta
            .license_expression
            .as_deref()
            .filter(|v| !is_valid_license_expression(v))
            .map(|v| invalid_for(field, v)),
        Field::LicenseFile => meta.license_files.iter().find_map(|path| {
            license_file_problem(path).map(|reason| {
                MetadataError::invalid(
                    email,
                    format!(
                        "{} is invalid for {}, {reason}",
                        py_repr(path),
                        py_repr(email)
                    ),
                )
            })
        }),
        Field::ImportName => meta
            .import_names
            .iter()
            .find_map(|v| import_name_error(v, email))
            .map(|msg| MetadataError::invalid(email, msg)),
        Field::ImportNamespace => meta
            .import_namespaces
            .iter()
            .find_map(|v| import_name_error(v, email))
            .map(|msg| MetadataError::invalid(email, msg)),
        _ => None,
    }
}

/// pep508_rs 0.9 panics ("`PackageName`/`ExtraName` validation should match PEP 508 parsing")
/// when the leading name or an extra name ends in `.`, `-` or `_` and the parser stops there
/// (`foo_ >=1`, `idna. `, `t[a.`, `e[s_, x]`): it reads the name and only then validates it with
/// `expect`. Found by fuzzing the `metadata` and `form_metadata` targets. Refuse such names
/// first, with the message pep508_rs gives where it does not panic.
fn bad_name_ending(req: &str) -> Option<String> {
    fn is_name_char(c: char) -> bool {
        c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')
    }
    /// The separator a leading run of name characters ends with, if it does.
    fn ends_badly(text: &str) -> Option<char> {
        let last = text
            .trim_start()
            .chars()
            .take_while(|&c| is_name_char(c))
            .last()?;
        matches!(last, '.' | '-' | '_').then_some(last)
    }
    let req = req.trim_start();
    if let Some(c) = ends_badly(req) {
        return Some(format!(
            "Package name must end with an alphanumeric character, not '{c}'"
        ));
    }
    let after_name = req.trim_start_matches(is_name_char).trim_start();
    let extras = after_name.strip_prefix('[')?;
    let extras = extras.split_once(']').map_or(extras, |(inside, _)| inside);
    extras
        .split(',')
        .find_map(ends_badly)
        .map(|c| format!("Extra name must end with an alphanumeric character, not '{c}'"))
}

fn parse_requirement(req: &str) -> Result<pep508_rs::Requirement, String> {
    // PEP 508's grammar is ASCII (names, operators, marker strings), and pep508_rs 0.9 slices
    // inside multi-byte characters when it meets one (`p[t →`, a marker string `'ú'`): a panic
    // found by the third fuzz round.
    if !req.is_ascii() {
        return Err("requirements must be ASCII (PEP 508)".to_owned());
    }
    if let Some(reason) = bad_name_ending(req) {
        return Err(reason);
    }
    // Any other panic of the third-party parser on attacker input is a refusal, not a 500 (under
    // the fuzzer, libFuzzer's panic hook still reports it).
    let parsed = std::panic::catch_unwind(|| pep508_rs::Requirement::from_str(req))
        .map_err(|_| "invalid requirement".to_owned())?;
    parsed.map_err(|e| {
        e.to_string()
            .lines()
            .next()
            .unwrap_or("invalid requirement")
            .to_owned()
    })
}

fn is_direct_url(req: &pep508_rs::Requirement) -> bool {
    matches!(req.version_or_url, Some(pep508_rs::VersionOrUrl::Url(_)))
}

/// Warehouse's own rules, applied once packaging's pass.
fn warehouse_errors(meta: &CoreMetadata) -> Vec<MetadataError> {
    let mut errors = Vec::new();
    let mut push =
        |field: &str, message: String| errors.push(MetadataError::invalid(field, message));

    if let Some(version) = meta.version.as_deref().and_then(|v| Version::parse(v).ok())
        && version.is_local()
    {
        push(
            "version",
            format!(
                "The use of local versions in {} is not allowed.",
                py_repr(&version.normalized())
            ),
        );
    }
    if meta
        .summary
        .as_deref()
        .is_some_and(|s| s.chars().count() > SUMMARY_LIMIT)
    {
        push(
            "summary",
            format!("'summary' field must be {SUMMARY_LIMIT} characters or less."),
        );
    }
    for (field, value) in [
        ("author-email", &meta.author_email),
        ("maintainer-email", &meta.maintainer_email),
    ] {
        let Some(address) = value.as_deref().and_then(extract_address) else {
            continue;
        };
        if let Err(reason) = check_email(&address) {
            push(
                field,
                format!(
                    "{} is not a valid email address: {reason}",
                    py_repr(&address)
                ),
            );
        }
    }
    let mut classifiers: Vec<&str> = meta.classifiers.iter().map(String::as_str).collect();
    classifiers.sort_unstable();
    classifiers.dedup();
    for classifier in classifiers.iter().filter(|c| !is_known_classifier(c)) {
        push(
            "classifier",
            format!("{} is not a valid classifier.", py_repr(classifier)),
        );
    }
    for classifier in &classifiers {
        match deprecated_classifier_replacements(classifier) {
            Some([]) => push(
                "classifier",
                format!(
                    "The classifier {} has been deprecated.",
                    py_repr(classifier)
                ),
            ),
            Some(replacements) => push(
                "classifier",
                format!(
                    "The classifier {} has been deprecated, use one of {} instead.",
                    py_repr(classifier),
                    py_repr_list(replacements)
                ),
            ),
            None => {}
        }
    }
    for (field, value) in [
        ("home-page", &meta.home_page),
        ("download-url", &meta.download_url),
    ] {
        if let Some(url) = value.as_deref().filter(|u| !is_valid_http_url(u)) {
            push(field, format!("{} is not a valid url.", py_repr(url)));
        }
    }
    for (label, url) in meta.project_urls() {
        let problem = if label.is_empty() {
            Some("Must have a label".to_owned())
        } else if label.chars().count() > PROJECT_URL_LABEL_LIMIT {
            Some(format!(
                "{} must be {PROJECT_URL_LABEL_LIMIT} characters or less.",
                py_repr(&label)
            ))
        } else if url.is_empty() {
            Some("Must have a URL".to_owned())
        } else if !is_valid_http_url(&url) {
            Some(format!("{} is not a valid url", py_repr(&url)))
        } else {
            None
        };
        if let Some(message) = problem {
            push("project-url", message);
        }
    }
    for (field, values) in [
        ("provides-dist", &meta.provides_dist),
        ("obsoletes-dist", &meta.obsoletes_dist),
    ] {
        for raw in values {
            match parse_requirement(raw) {
                Err(reason) => push(field, format!("{} is invalid: {reason}", py_repr(raw))),
                Ok(req) if is_direct_url(&req) => {
                    push(
                        field,
                        format!("Can't have direct dependency: {}", py_repr(raw)),
                    );
                }
                Ok(_) => {}
            }
        }
    }
    for raw in &meta.requires_dist {
        if parse_requirement(raw).is_ok_and(|req| is_direct_url(&req)) {
            push(
                "requires-dist",
                format!("Can't have direct dependency: {}", raw.trim()),
            );
        }
    }
    for entry in &meta.dynamic {
        if entry.eq_ignore_ascii_case("dynamic") {
            push(
                "dynamic",
                format!(
                    "Dynamic field {} is not a valid dynamic field.",
                    py_repr(&entry.to_ascii_lowercase())
                ),
            );
        }
    }
    if meta.license.is_some() && meta.license_expression.is_some() {
        push(
            "license",
            "License is deprecated when License-Expression is present. Only License-Expression should be present."
                .to_owned(),
        );
    }
    errors
}

#[cfg(test)]
mod tests;
