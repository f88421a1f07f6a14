//! PEP 691 JSON project pages (with PEP 700 `versions`/`size`/`upload-time`, PEP 714
//! metadata keys, PEP 740 `provenance`, PEP 792 `project-status`). The document's shape
//! (`files` as a list of objects; `name`, when present, a string) is required; a file field of an unexpected type is
//! read as absent, as pip's `dict.get` reads it, so one odd entry does not hide a project.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::fields::{self, MAX_FILES, MAX_VERSION_BYTES, MAX_VERSIONS, RawFile};
use super::{ReadError, UpstreamPage, UpstreamStatus, check_api_version, check_name};
use crate::name::NormalizedName;

#[derive(Deserialize)]
struct Doc {
    #[serde(default)]
    meta: Option<Meta>,
    /// PEP 691 requires it; pip and uv do not read it. When present it must be the project's.
    #[serde(default)]
    name: Option<String>,
    files: Bounded<FileDoc, MAX_FILES>,
    #[serde(default)]
    versions: Option<Bounded<Value, MAX_VERSIONS>>,
    #[serde(default, rename = "project-status")]
    project_status: Option<Value>,
}

#[derive(Deserialize)]
struct Meta {
    #[serde(default, rename = "api-version")]
    api_version: Option<Value>,
}

/// One `files[]` entry: every field a raw JSON value, judged in [`raw_file`]. Read key by
/// key: unknown keys are skipped without being kept, and a repeated key's last value wins (as
/// Python's `json` reads a page for pip).
#[derive(Default)]
struct FileDoc {
    filename: Value,
    url: Value,
    hashes: Value,
    requires_python: Value,
    yanked: Value,
    size: Value,
    upload_time: Value,
    core_metadata: Value,
    dist_info_metadata: Value,
    data_dist_info_metadata: Value,
    provenance: Value,
}

impl<'de> Deserialize<'de> for FileDoc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FileDoc;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a file object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FileDoc, A::Error> {
                let mut doc = FileDoc::default();
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    let slot = match &*key {
                        "filename" => &mut doc.filename,
                        "url" => &mut doc.url,
                        "hashes" => &mut doc.hashes,
                        "requires-python" => &mut doc.requires_python,
                        "yanked" => &mut doc.yanked,
                        "size" => &mut doc.size,
                        "upload-time" => &mut doc.upload_time,
                        "core-metadata" => &mut doc.core_metadata,
                        "dist-info-metadata" => &mut doc.dist_info_metadata,
                        "data-dist-info-metadata" => &mut doc.data_dist_info_metadata,
                        "provenance" => &mut doc.provenance,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    *slot = map.next_value()?;
                }
                Ok(doc)
            }
        }
        d.deserialize_map(V)
    }
}

/// A JSON list read element by element that refuses more than `N` elements, so a page of a
/// million tiny entries fails early instead of being held in memory whole.
struct Bounded<T, const N: usize>(Vec<T>);

impl<'de, T: Deserialize<'de>, const N: usize> Deserialize<'de> for Bounded<T, N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T, const N: usize>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>, const N: usize> Visitor<'de> for V<T, N> {
            type Value = Bounded<T, N>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a list of at most {N} entries")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element()? {
                    if out.len() == N {
                        return Err(de::Error::custom(format_args!(
                            "more than {N} entries in a list"
                        )));
                    }
                    out.push(item);
                }
                Ok(Bounded(out))
            }
        }
        d.deserialize_seq(V(PhantomData))
    }
}

fn string(v: Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s),
        _ => None,
    }
}

/// `yanked`: `false`/absent = not yanked; `true` = yanked without a reason; a string = the
/// reason. An empty string counts as yanked (uv's reading; pip reads it as not yanked: the
/// safer of the two). Any other value is read as yanked without a reason.
fn yanked(v: Value) -> Option<String> {
    match v {
        Value::Null | Value::Bool(false) => None,
        Value::String(s) => Some(s),
        _ => Some(String::new()),
    }
}

/// PEP 658/714 metadata: `true` = advertised, hashes unknown; `{"sha256": …}` = advertised
/// with hashes (only sha256 is kept); `false`/absent = none.
fn core_metadata(v: Value) -> Option<Option<String>> {
    match v {
        Value::Null | Value::Bool(false) => None,
        Value::Object(hashes) => Some(
            hashes
                .get("sha256")
                .and_then(Value::as_str)
                .and_then(fields::sha256_hex),
        ),
        Value::Bool(true) => Some(None),
        _ => None,
    }
}

fn raw_file(doc: FileDoc) -> Option<RawFile> {
    let href = string(doc.url)?;
    let filename = string(doc.filename)?;
    // PEP 714: `core-metadata`, falling back to the older names when it is absent.
    let metadata = [
        doc.core_metadata,
        doc.dist_info_metadata,
        doc.data_dist_info_metadata,
    ]
    .into_iter()
    .find(|v| !v.is_null())
    .unwrap_or(Value::Null);
    Some(RawFile {
        filename: Some(filename),
        href,
        sha256: doc
            .hashes
            .get("sha256")
            .and_then(Value::as_str)
            .and_then(fields::sha256_hex),
        requires_python: string(doc.requires_python),
        yanked: yanked(doc.yanked),
        size: doc.size.as_u64(),
        upload_time: string(doc.upload_time),
        core_metadata: core_metadata(metadata),
        provenance: string(doc.provenance),
    })
}

/// PEP 792 `project-status`: `{"status": …, "reason": …}`.
fn status(v: Option<Value>) -> (UpstreamStatus, Option<String>) {
    let Some(Value::Object(mut map)) = v else {
        return (UpstreamStatus::Active, None);
    };
    let status = map
        .get("status")
        .and_then(Value::as_str)
        .map_or(UpstreamStatus::Active, super::status_from_str);
    let reason = map.remove("reason").and_then(string).map(fields::reason);
    (status, reason)
}

pub(super) fn parse(
    asked: &NormalizedName,
    body: &[u8],
    page_url: &str,
) -> Result<UpstreamPage, ReadError> {
    let base = fields::page_base(page_url)?;
    // serde's derived struct reading also takes a list of the fields in order; a page is an
    // object.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ReadError::malformed(
            "invalid JSON page: not a JSON object".to_owned(),
        ));
    }
    let doc: Doc = serde_json::from_slice(body).map_err(|e| {
        // serde's message quotes the offending value (a string can be the whole page): keep
        // its start and always the position.
        let what = e.to_string();
        let what = what
            .rsplit_once(" at line ")
            .map_or(what.as_str(), |(what, _)| what);
        let what = fields::truncate(what.to_owned(), 200);
        ReadError::malformed(format!(
            "invalid JSON page: {what} at line {} column {}",
            e.line(),
            e.column()
        ))
    })?;
    if let Some(version) = doc.meta.and_then(|m| m.api_version) {
        match version {
            Value::String(v) => check_api_version(&v)?,
            other => {
                return Err(ReadError::malformed(format!(
                    "meta.api-version is not a string: {other}"
                )));
            }
        }
    }
    if let Some(name) = &doc.name {
        check_name(asked, name)?;
    }
    let (status, status_reason) = status(doc.project_status);
    let versions = doc
        .versions
        .map(|v| v.0)
        .unwrap_or_default()
        .into_iter()
        .filter_map(string)
        .filter(|v| !v.is_empty() && v.len() <= MAX_VERSION_BYTES)
        .collect();
    let files = doc
        .files
        .0
        .into_iter()
        .filter_map(raw_file)
        .filter_map(|raw| fields::finish(asked, &base, raw))
        .collect();
    Ok(UpstreamPage {
        name: asked.as_str().to_owned(),
        status,
        status_reason,
        versions,
        files,
    })
}
