//! Static files (one stylesheet, the copy buttons' and the WebAuthn scripts), embedded and served under a name that
//! carries a hash of their content, so they can be cached for a year.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

const FILES: &[(&str, &[u8], &str)] = &[
    (
        "style.css",
        include_bytes!("../../static/style.css"),
        "text/css; charset=utf-8",
    ),
    (
        "copy.js",
        include_bytes!("../../static/copy.js"),
        "text/javascript; charset=utf-8",
    ),
    (
        "webauthn.js",
        include_bytes!("../../static/webauthn.js"),
        "text/javascript; charset=utf-8",
    ),
];

struct Asset {
    name: &'static str,
    hashed: String,
    body: &'static [u8],
    content_type: &'static str,
}

static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    FILES
        .iter()
        .map(|(name, body, content_type)| {
            let digest = hex::encode(Sha256::digest(body));
            let (stem, ext) = name.rsplit_once('.').unwrap_or((name, ""));
            Asset {
                name,
                hashed: format!("{stem}.{}.{ext}", &digest[..12]),
                body,
                content_type,
            }
        })
        .collect()
});

/// The URL of a static file by its plain name (`style.css` → `/static/style.<hash>.css`).
pub(crate) fn url(name: &str) -> String {
    ASSETS
        .iter()
        .find(|a| a.name == name)
        .map(|a| format!("/static/{}", a.hashed))
        .unwrap_or_else(|| format!("/static/{name}"))
}

/// `GET /static/<hashed name>`
pub(crate) async fn serve(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.hashed == file) {
        Some(a) => {
            let mut resp = a.body.into_response();
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(a.content_type),
            );
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            );
            resp
        }
        None => (StatusCode::NOT_FOUND, "Not Found\n").into_response(),
    }
}
