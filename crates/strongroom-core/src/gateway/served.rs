//! What the public sees of an upstream project: its simple page (`ProjectPage`, links rewritten
//! to `/upstream/files/<project>/<sha256>/<filename>`) and its JSON API document, both built
//! from the stored page through the filter ([`super::filter::decide`]).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use strongroom_protocol::NormalizedName;
use strongroom_protocol::json_api::{Vulnerability, latest_version, legacy_upload_time};
use strongroom_protocol::simple::read::{UpstreamFile, UpstreamStatus};
use strongroom_protocol::simple::{ProjectPage, ProjectStatus, SimpleFile};
use strongroom_protocol::version::Version;

use super::filter::{FileDecision, FilterContext, decide};
use super::stored::GatewayPage;

/// An upstream project's files as served: the status, its reason, and every file that passed.
#[derive(Debug, Clone)]
pub struct ServedProject {
    /// PEP 792 status (`quarantined` when an admin blocked the project).
    pub status: ProjectStatus,
    /// PEP 792 reason.
    pub status_reason: Option<String>,
    /// Files that passed the filter, with their versions, in the upstream's order.
    pub files: Vec<(UpstreamFile, String)>,
}

/// Apply the filter to a stored page. A blocked project is `quarantined` with the block's
/// reason and no files; a page the upstream marks quarantined lists no files either.
pub fn served_project(
    name: &NormalizedName,
    page: &GatewayPage,
    ctx: &FilterContext<'_>,
) -> ServedProject {
    if let Some(reason) = &ctx.rules.project_blocked {
        return ServedProject {
            status: ProjectStatus::Quarantined,
            status_reason: Some(reason.clone()),
            files: Vec::new(),
        };
    }
    let status = ProjectStatus::from(page.page.status);
    if page.page.status == UpstreamStatus::Quarantined {
        return ServedProject {
            status,
            status_reason: page.page.status_reason.clone(),
            files: Vec::new(),
        };
    }
    let files = page
        .page
        .files
        .iter()
        .filter_map(|f| match decide(name, f, ctx) {
            FileDecision::Serve(v) => Some((f.clone(), v)),
            FileDecision::Refused(_) | FileDecision::Hidden(_) => None,
        })
        .collect();
    ServedProject {
        status,
        status_reason: page.page.status_reason.clone(),
        files,
    }
}

/// Characters kept as they are in a file URL's last segment (RFC 3986 unreserved and a few
/// sub-delims distribution filenames use); everything else is percent-encoded.
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'!') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The strongroom URL of an upstream file under `base` (`../..`, or the public URL).
pub fn upstream_file_url(
    base: &str,
    project: &NormalizedName,
    sha256: &str,
    filename: &str,
) -> String {
    format!(
        "{base}/upstream/files/{}/{sha256}/{}",
        project.as_str(),
        encode_segment(filename)
    )
}

/// The simple page model of a served upstream project (links under `link_base`).
pub fn project_page(name: &NormalizedName, served: &ServedProject, link_base: &str) -> ProjectPage {
    let mut versions: Vec<Version> = Vec::new();
    let mut files = Vec::with_capacity(served.files.len());
    for (f, v) in &served.files {
        let Some(sha256) = f.sha256.clone() else {
            continue;
        };
        if let Ok(parsed) = Version::parse(v)
            && !versions.contains(&parsed)
        {
            versions.push(parsed);
        }
        files.push(SimpleFile {
            url: upstream_file_url(link_base, name, &sha256, &f.filename),
            filename: f.filename.clone(),
            sha256,
            requires_python: f.requires_python.clone(),
            size: f.size,
            upload_time: f.upload_time.clone(),
            yanked: f.yanked.clone(),
            // a metadata file strongroom can check (its sha256 given) is offered; one
            // advertised without a hash is not
            core_metadata_sha256: f.core_metadata.clone().flatten(),
            // PEP 740: the upstream's attestation URL, as given
            provenance: f.provenance.clone(),
        });
    }
    versions.sort();
    ProjectPage {
        name: name.clone(),
        status: served.status,
        status_reason: served.status_reason.clone(),
        // upstream projects have no serial of this index
        last_serial: 0,
        versions: versions.iter().map(Version::normalized).collect(),
        files,
    }
}

fn file_json(base: &str, name: &NormalizedName, f: &UpstreamFile, sha256: &str) -> Value {
    let mut o = Map::new();
    o.insert(
        "core-metadata".into(),
        match f.core_metadata.clone().flatten() {
            Some(h) => json!({ "sha256": h }),
            None => json!(false),
        },
    );
    o.insert("digests".into(), json!({ "sha256": sha256 }));
    o.insert("filename".into(), json!(f.filename));
    let dist = strongroom_protocol::filename::DistFilename::parse(&f.filename).ok();
    if let Some(d) = &dist {
        o.insert("packagetype".into(), json!(d.packagetype()));
        let python_version = match d {
            strongroom_protocol::filename::DistFilename::Wheel(w) => w.python_tags.join("."),
            strongroom_protocol::filename::DistFilename::Sdist(_) => "source".to_owned(),
        };
        o.insert("python_version".into(), json!(python_version));
    }
    o.insert("requires_python".into(), json!(f.requires_python));
    if let Some(size) = f.size {
        o.insert("size".into(), json!(size));
    }
    if let Some(t) = &f.upload_time {
        o.insert("upload_time".into(), json!(legacy_upload_time(t)));
        o.insert("upload_time_iso_8601".into(), json!(t));
    }
    o.insert(
        "url".into(),
        json!(upstream_file_url(base, name, sha256, &f.filename)),
    );
    o.insert("yanked".into(), json!(f.yanked.is_some()));
    o.insert(
        "yanked_reason".into(),
        json!(f.yanked.as_deref().filter(|r| !r.is_empty())),
    );
    Value::Object(o)
}

/// The JSON API document of a served upstream project (`version`: one release's document).
/// Only what the stored page says is written: `info` holds the name, the version, its
/// `requires_python` and yank; no invented summary, author or links. `vulnerabilities` as
/// given (`None`: left out). `None` when the version (or, for the project, any file) is not
/// served.
pub fn json_document(
    name: &NormalizedName,
    served: &ServedProject,
    version: Option<&str>,
    base: &str,
    vulnerabilities: Option<Vec<Vulnerability>>,
) -> Option<String> {
    let mut releases: BTreeMap<String, (Version, Vec<&UpstreamFile>)> = BTreeMap::new();
    for (f, v) in &served.files {
        if let Ok(parsed) = Version::parse(v) {
            releases
                .entry(parsed.normalized())
                .or_insert_with(|| (parsed, Vec::new()))
                .1
                .push(f);
        }
    }
    let chosen: String = match version {
        Some(v) => {
            let want = Version::parse(v).ok()?;
            releases.iter().find(|(_, (pv, _))| *pv == want)?.0.clone()
        }
        None => {
            let candidates: Vec<(Version, bool)> = releases
                .values()
                .map(|(pv, files)| (pv.clone(), files.iter().all(|f| f.yanked.is_some())))
                .collect();
            latest_version(&candidates)?.normalized()
        }
    };
    let (_, chosen_files) = releases.get(&chosen)?;
    let files_json = |files: &[&UpstreamFile]| -> Vec<Value> {
        files
            .iter()
            .filter_map(|f| f.sha256.as_deref().map(|h| file_json(base, name, f, h)))
            .collect()
    };
    let yanked = chosen_files.iter().all(|f| f.yanked.is_some());
    let yanked_reason = chosen_files
        .iter()
        .find_map(|f| f.yanked.as_deref().filter(|r| !r.is_empty()));
    let requires_python = chosen_files.iter().find_map(|f| f.requires_python.clone());
    let mut doc = Map::new();
    doc.insert(
        "info".into(),
        json!({
            "name": name.as_str(),
            "version": chosen,
            "requires_python": requires_python,
            "yanked": yanked,
            "yanked_reason": if yanked { yanked_reason } else { None },
        }),
    );
    if version.is_none() {
        let map: Map<String, Value> = releases
            .iter()
            .map(|(v, (_, files))| (v.clone(), Value::Array(files_json(files))))
            .collect();
        doc.insert("releases".into(), Value::Object(map));
    }
    doc.insert("urls".into(), Value::Array(files_json(chosen_files)));
    if let Some(v) = vulnerabilities {
        doc.insert("vulnerabilities".into(), serde_json::to_value(v).ok()?);
    }
    serde_json::to_string(&Value::Object(doc)).ok()
}

/// The version the project document describes (its `vulnerabilities` are that release's).
pub fn latest_served(served: &ServedProject) -> Option<String> {
    let mut candidates: Vec<(Version, bool)> = Vec::new();
    for (f, v) in &served.files {
        if let Ok(parsed) = Version::parse(v) {
            match candidates.iter_mut().find(|(pv, _)| *pv == parsed) {
                Some((_, all_yanked)) => *all_yanked &= f.yanked.is_some(),
                None => candidates.push((parsed, f.yanked.is_some())),
            }
        }
    }
    latest_version(&candidates).map(Version::normalized)
}
