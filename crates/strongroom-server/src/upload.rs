//! `POST /legacy/`: twine's multipart upload. The token is checked before the body is read; the
//! file part is streamed to a temporary file while md5, sha256 and blake2b-256 are computed in one
//! pass on a blocking thread, and the size limit is enforced as bytes arrive. A full temp folder
//! answers 507 (`CoreError::is_out_of_space`), like a full database or blob store.

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
const MAX_FIELD_BYTES: usize = 8 * 1024 * 1024;
const MAX_TEXT_BYTES: usize = 32 * 1024 * 1024;

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

async fn read_text(field: &mut Field<'_>, budget: &mut usize) -> Result<String, ApiError> {
    let mut buf = Vec::new();
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| bad(format!("Invalid multipart body: {e}")))?
    {
        buf.extend_from_slice(&chunk);
        if buf.len() > MAX_FIELD_BYTES || buf.len() > *budget {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Form field too large.",
            ));
        }
    }
    *budget -= buf.len();
    // Core metadata is UTF-8; NUL bytes are neutralised as Warehouse does.
    let s = String::from_utf8(buf).map_err(|_| bad("Form fields must be UTF-8."))?;
    Ok(s.replace('\0', "\\x00"))
}

async fn drain(mut multipart: Multipart) {
    while let Ok(Some(mut f)) = multipart.next_field().await {
        while let Ok(Some(_)) = f.chunk().await {}
    }
}

/// `POST /legacy/`
pub(crate) async fn upload(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, ApiError> {
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
    let who: Principal = match state.services.authenticate_upload(&creds, &meta).await {
        Ok(who) => who,
        Err(e) => {
            // Nothing is stored; the body is read and dropped so the client sees the 403
            // instead of a reset connection halfway through its upload.
            drain(multipart).await;
            return Err(e.into());
        }
    };

    let mut form = UploadForm::default();
    let mut budget = MAX_TEXT_BYTES;
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
            } else {
                let value = read_text(&mut field, &mut budget).await?;
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
        // Read (and discard) the rest so the client sees our answer rather than a reset.
        drain(multipart).await;
        return Err(e);
    }
    if form.get(":action").is_none() && !query.contains_key(":action") {
        return Err(bad("Missing :action."));
    }
    let file = received.as_ref().map(|(_, f)| f);
    let result = state.services.publish(&who, &form, file, &meta).await;
    drop(received); // the temp file goes away whatever happened
    match result? {
        Published::New { serial } => {
            tracing::info!(serial, user = %who.user.username, "upload accepted");
            Ok((StatusCode::OK, "OK\n").into_response())
        }
        // Held for an administrator's review: 200 so twine does not fail or retry, with a body
        // that says so (PyPI has no such state; see core's upload_safety).
        Published::Quarantined { message } => {
            tracing::warn!(user = %who.user.username, "upload quarantined for review");
            Ok((StatusCode::OK, message).into_response())
        }
        Published::AlreadyThere => Ok((
            StatusCode::OK,
            "OK (file already exists with the same content)\n",
        )
            .into_response()),
    }
}
