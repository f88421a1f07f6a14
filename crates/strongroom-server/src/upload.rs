//! `POST /legacy/`: twine's multipart upload. The token is checked before the body is read; the
//! file part is streamed to a temporary file while md5, sha256 and blake2b-256 are computed in one
//! pass on a blocking thread, and the size limit is enforced as bytes arrive. A full temp folder
//! answers 507 (`CoreError::is_out_of_space`), like a full database or blob store.
//! Text fields are bounded by what they are for: the few that core reads are kept, at most
//! `MAX_KEPT_FIELD` bytes each; the rest (description, classifiers and every other copy of the
//! archive's own metadata, which is read from the archive) are counted and dropped as they
//! arrive, within `MAX_DESCRIPTION` for the description, `MAX_OTHER_FIELD` for others and
//! `MAX_TEXT_BYTES` in all. An account has at most `http.max_uploads_per_user` uploads in
//! progress (429). A refused upload's body is drained only so far (`drain`).

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::extract::multipart::Field;
use axum::extract::{ConnectInfo, Multipart, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use strongroom_core::publish::{Published, ReceivedFile, UploadForm, file_too_large};
use strongroom_core::tokens::{Principal, parse_authorization};
use strongroom_dist::{Digests, ParallelHasher};
use strongroom_store::tempfiles::LockedTempFile;

use crate::error::ApiError;
use crate::state::{AppState, request_meta};

const MAX_FIELDS: usize = 1_000;
/// The form fields core reads (`core::upload_checks`); the others are not kept.
const KEPT_FIELDS: &[&str] = &[
    ":action",
    "protocol_version",
    "metadata_version",
    "name",
    "version",
    "filetype",
    "pyversion",
    "md5_digest",
    "sha256_digest",
    "blake2_256_digest",
    "comment",
    "filename",
];
/// Longest kept field (names, versions, digests, a comment).
const MAX_KEPT_FIELD: usize = 16 * 1024;
/// Kept text of one form in all (what stays in memory while the file part arrives).
const MAX_KEPT_TEXT: usize = 64 * 1024;
/// Longest `description`: the largest core metadata file an archive may carry, which it copies.
const MAX_DESCRIPTION: usize = strongroom_protocol::metadata::MAX_METADATA_BYTES;
/// Longest other (dropped) field.
const MAX_OTHER_FIELD: usize = 1024 * 1024;
/// Text bytes of one form in all (kept or dropped).
const MAX_TEXT_BYTES: usize = 16 * 1024 * 1024;
/// Most of a refused upload's body read (and dropped) so the client can see the answer, within
/// `http.body_timeout_seconds`; after that the connection is closed (as nginx's lingering close).
const DRAIN_MAX_BYTES: usize = 8 * 1024 * 1024;

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, msg)
}

/// Check `:action` as PyPI does.
fn check_action(action: &str) -> Result<(), ApiError> {
    match action {
        "file_upload" => Ok(()),
        "submit" | "submit_pkg_info" => Err(ApiError::new(
            StatusCode::GONE,
            "Project pre-registration is no longer required or supported, upload your files instead.",
        )),
        "doc_upload" => Err(ApiError::new(
            StatusCode::GONE,
            "Uploading documentation is no longer supported, we recommend using https://readthedocs.org/.",
        )),
        other => Err(bad(format!(
            "Unknown :action '{}'.",
            other.chars().take(64).collect::<String>()
        ))),
    }
}

/// A file part being written to disk by a blocking thread.
struct Spool {
    tx: tokio::sync::mpsc::Sender<Bytes>,
    done: tokio::task::JoinHandle<std::io::Result<(LockedTempFile, Digests, u64)>>,
}

impl Spool {
    fn start(dir: &std::path::Path) -> std::io::Result<Spool> {
        use std::io::Write;
        // Locked while this upload holds it: the sweep at the next start (after a crash) or the
        // periodic one removes it only once no live process does.
        let tmp = LockedTempFile::create_in(dir, "upload-")?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(16);
        let done = tokio::task::spawn_blocking(move || {
            // MD5 and BLAKE2b here, SHA-256 on a second thread, while tokio receives.
            let mut hasher = ParallelHasher::<Bytes>::new()?;
            let mut out = std::io::BufWriter::with_capacity(1024 * 1024, tmp);
            let mut size = 0u64;
            while let Some(chunk) = rx.blocking_recv() {
                hasher.update(&chunk)?;
                out.write_all(&chunk)?;
                size += chunk.len() as u64;
            }
            let tmp = out.into_inner().map_err(|e| e.into_error())?;
            Ok((tmp, hasher.finish()?, size))
        });
        Ok(Spool { tx, done })
    }
}

/// What is left of a form's text bounds.
struct TextBudget {
    /// Text bytes read, kept or not (`MAX_TEXT_BYTES`).
    all: usize,
    /// Text bytes kept (`MAX_KEPT_TEXT`).
    kept: usize,
}

/// Read a text field named `name`: `Some(value)` for a field core reads, `None` (its bytes
/// counted against `budget` and dropped as they arrive) for any other.
async fn read_text(
    field: &mut Field<'_>,
    name: &str,
    budget: &mut TextBudget,
) -> Result<Option<String>, ApiError> {
    let keep = KEPT_FIELDS.contains(&name);
    let max = if keep {
        MAX_KEPT_FIELD
    } else if name == "description" {
        MAX_DESCRIPTION
    } else {
        MAX_OTHER_FIELD
    };
    let mut buf = Vec::new();
    let mut len = 0usize;
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| bad(format!("Invalid multipart body: {e}")))?
    {
        len += chunk.len();
        if len > max {
            return Err(ApiError::form_field_too_large(name, max));
        }
        if len > budget.all {
            return Err(ApiError::form_field_too_large(
                "all text fields together",
                MAX_TEXT_BYTES,
            ));
        }
        if keep && len > budget.kept {
            return Err(ApiError::form_field_too_large(
                "all metadata fields together",
                MAX_KEPT_TEXT,
            ));
        }
        if keep {
            buf.extend_from_slice(&chunk);
        }
    }
    budget.all -= len;
    if !keep {
        return Ok(None);
    }
    budget.kept -= len;
    // Core metadata is UTF-8; NUL bytes are neutralised as Warehouse does.
    let s = String::from_utf8(buf).map_err(|_| bad("Form fields must be UTF-8."))?;
    Ok(Some(s.replace('\0', "\\x00")))
}

/// Read and drop what is left of a refused upload's body so the client sees the answer rather
/// than a reset, but at most `DRAIN_MAX_BYTES` and for at most `within`; the connection may be
/// closed to make room meanwhile (`conn`). Whether the body was read to its end (if not, the
/// answer closes the connection).
async fn drain(
    mut multipart: Multipart,
    within: std::time::Duration,
    conn: Option<&crate::connections::ConnHandle>,
) -> bool {
    let _mark = conn.map(crate::connections::ConnHandle::anonymous_body);
    let mut left = DRAIN_MAX_BYTES;
    let all = async {
        loop {
            match multipart.next_field().await {
                Ok(Some(mut f)) => loop {
                    match f.chunk().await {
                        Ok(Some(c)) if c.len() < left => left -= c.len(),
                        Ok(Some(_)) | Err(_) => return false,
                        Ok(None) => break,
                    }
                },
                Ok(None) => return true,
                Err(_) => return false,
            }
        }
    };
    tokio::time::timeout(within, all).await.unwrap_or(false)
}

/// `e` with its help links (`See /help/#…`) made absolute under `base`: twine and uv print the
/// message in a terminal, where a path alone leads nowhere.
fn linked(e: ApiError, base: &str) -> ApiError {
    ApiError {
        message: strongroom_core::help::absolute_links(&e.message, base),
        ..e
    }
}

/// The answer to a refused upload, after a bounded drain of its body.
async fn refuse(
    e: ApiError,
    multipart: Multipart,
    state: &AppState,
    conn: Option<&crate::connections::ConnHandle>,
) -> Response {
    let within = crate::body_rate::body_deadline(&state.services.settings.http);
    let complete = drain(multipart, within, conn).await;
    let mut resp = e.into_response();
    if !complete {
        resp.headers_mut().insert(
            header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    resp
}

/// `POST /legacy/`
pub(crate) async fn upload(
    state: State<AppState>,
    peer: ConnectInfo<SocketAddr>,
    query: Query<HashMap<String, String>>,
    headers: HeaderMap,
    conn: Option<axum::Extension<crate::connections::ConnHandle>>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let base = state.base_url(&headers);
    match receive(state, peer, query, headers, conn, multipart, &base).await {
        Ok(resp) => resp,
        Err(e) => linked(e, &base).into_response(),
    }
}

/// The upload itself; `base` is where help links in a refusal point.
async fn receive(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    conn: Option<axum::Extension<crate::connections::ConnHandle>>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
    base: &str,
) -> Result<Response, ApiError> {
    let conn = conn.map(|axum::Extension(c)| c);
    let meta = request_meta(
        &headers,
        Some(peer),
        &state.services.settings.trusted_proxies,
    );
    let settings = state.services.settings.clone();
    let limit = settings.max_file_size;
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > limit.saturating_add(MAX_TEXT_BYTES as u64 + 1024 * 1024)
    {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request body too large.",
        ));
    }
    if let Some(a) = query.get(":action") {
        check_action(a)?;
    }
    // Tokens only, never cookies; checked before a byte of the body is read.
    let creds = parse_authorization(
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    );
    let mut multipart =
        multipart.map_err(|e| bad(format!("Invalid multipart body: {}", e.body_text())))?;
    // Draining for shutdown: refused before the credentials are looked at, nothing stored.
    let Some(_in_flight) = state.drain.upload() else {
        tracing::info!("upload refused: the server is shutting down");
        return Ok(refuse(
            linked(ApiError::shutting_down(), base),
            multipart,
            &state,
            conn.as_ref(),
        )
        .await);
    };
    let who: Principal = match state.services.authenticate_upload(&creds, &meta).await {
        Ok(who) => who,
        Err(e) => {
            // Nothing is stored; some of the body is read and dropped so the client sees the
            // 403 instead of a reset connection halfway through its upload.
            return Ok(refuse(linked(e.into(), base), multipart, &state, conn.as_ref()).await);
        }
    };
    let max_uploads = settings.http.max_uploads_per_user;
    let Some(_slot) = state.upload_slots.take(who.user.id, max_uploads) else {
        tracing::info!(user = %who.user.username, max_uploads, "upload refused: too many in progress");
        let e = ApiError::too_many_uploads(max_uploads);
        return Ok(refuse(linked(e, base), multipart, &state, conn.as_ref()).await);
    };

    let mut form = UploadForm::default();
    let mut budget = TextBudget {
        all: MAX_TEXT_BYTES,
        kept: MAX_KEPT_TEXT,
    };
    let mut received: Option<(LockedTempFile, ReceivedFile)> = None;
    let mut n = 0usize;
    let outcome: Result<(), ApiError> = async {
        while let Some(mut field) = multipart
            .next_field()
            .await
            .map_err(|e| bad(format!("Invalid multipart body: {e}")))?
        {
            n += 1;
            if n > MAX_FIELDS {
                return Err(bad("Too many form fields."));
            }
            let name = field.name().unwrap_or("").to_owned();
            if name == "content" {
                if received.is_some() {
                    return Err(bad("content: Should not be a tuple."));
                }
                let project = state.services.precheck_upload(&who, &form, &meta).await?;
                let filename = field.file_name().unwrap_or("").to_owned();
                _in_flight.describe(format!("{filename} by {}", who.user.username));
                let content_type = field.content_type().map(str::to_owned);
                let spool =
                    Spool::start(&state.temp_dir).map_err(strongroom_core::CoreError::from)?;
                let mut size = 0u64;
                let mut too_big = false;
                while let Some(chunk) = field
                    .chunk()
                    .await
                    .map_err(|e| bad(format!("Invalid multipart body: {e}")))?
                {
                    size += chunk.len() as u64;
                    if size > limit {
                        too_big = true;
                        break;
                    }
                    if spool.tx.send(chunk).await.is_err() {
                        break;
                    }
                }
                drop(spool.tx);
                let (tmp, digests, written) = spool
                    .done
                    .await
                    .map_err(|e| strongroom_core::CoreError::Internal(format!("spool task: {e}")))?
                    .map_err(strongroom_core::CoreError::from)?;
                if too_big {
                    return Err(bad(file_too_large(&project, limit)));
                }
                let path = tmp.path().to_path_buf();
                received = Some((
                    tmp,
                    ReceivedFile {
                        path,
                        filename,
                        content_type,
                        size: written,
                        digests,
                    },
                ));
            } else if field.file_name().is_some() && name != "gpg_signature" {
                return Err(bad(format!("{name}: Should not be a tuple.")));
            } else if let Some(value) = read_text(&mut field, &name, &mut budget).await? {
                if name == ":action" {
                    check_action(&value)?;
                }
                form.fields.push((name, value));
            }
        }
        Ok(())
    }
    .await;
    if let Err(e) = outcome {
        // Read (and discard) some of the rest so the client sees our answer, not a reset.
        return Ok(refuse(linked(e, base), multipart, &state, conn.as_ref()).await);
    }
    if form.get(":action").is_none() && !query.contains_key(":action") {
        return Err(bad("Missing :action."));
    }
    let file = received.as_ref().map(|(_, f)| f);
    let result = state.services.publish(&who, &form, file, &meta).await;
    // The upload line: what came in, from whom and where (the request line has the id).
    let project = form
        .get("name")
        .unwrap_or("")
        .chars()
        .take(128)
        .collect::<String>();
    let filename = file
        .map_or("", |f| f.filename.as_str())
        .chars()
        .take(256)
        .collect::<String>();
    let size = file.map_or(0, |f| f.size);
    let address = meta.ip.as_deref().unwrap_or("-");
    drop(received); // the temp file goes away whatever happened
    match result? {
        Published::New { serial } => {
            tracing::info!(
                serial,
                project = %project,
                filename = %filename,
                size,
                account = %who.user.username,
                address,
                "upload accepted"
            );
            Ok((StatusCode::OK, "OK\n").into_response())
        }
        // Held for an administrator's review: 200 so twine does not fail or retry, with a body
        // that says so (PyPI has no such state; see core's upload_safety).
        Published::Quarantined { message } => {
            tracing::warn!(
                project = %project,
                filename = %filename,
                size,
                account = %who.user.username,
                address,
                "upload quarantined for review"
            );
            Ok((StatusCode::OK, message).into_response())
        }
        Published::AlreadyThere => Ok((
            StatusCode::OK,
            "OK (file already exists with the same content)\n",
        )
            .into_response()),
    }
}
