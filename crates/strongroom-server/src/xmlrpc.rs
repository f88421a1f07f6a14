//! The read-only part of PyPI's XML-RPC API that mirrors still use (bandersnatch's default):
//! `list_packages_with_serial`, `changelog_last_serial`, `changelog_since_serial`. The lists are
//! the public view (`core::visibility`): hidden projects are not listed, and changelog entries of
//! what the public does not see carry only their project's name.
//! Answers cost the same for every caller: `changelog_since_serial` answers at most one block of
//! `CHANGELOG_PAGE` serials (mirrors continue from the highest serial they got, as they do after
//! PyPI's own cap), each block is read and rendered once per global serial on a blocking thread
//! and kept in the page cache, and a call is then a slice of stored bytes; the package list is
//! kept the same way.
//! The request parser is deliberately tiny: no DTDs, no entities beyond the five predefined
//! ones, bounded size — so billion-laughs and external-entity payloads have nothing to expand.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::cache::{CachedPage, PageKey};
use crate::state::AppState;
use strongroom_core::CoreError;

/// Serials per block of `changelog_since_serial`: an answer holds at most this many entries
/// (PyPI's cap is 50,000, which cost ~1.8 s of CPU and 11 MB per call here).
pub(crate) const CHANGELOG_PAGE: i64 = 5_000;

/// A parsed call: method name and its scalar parameters.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Call {
    pub method: String,
    pub params: Vec<String>,
}

fn between<'a>(s: &'a str, open: &str, close: &str) -> Option<(&'a str, &'a str)> {
    let start = s.find(open)? + open.len();
    let end = s[start..].find(close)? + start;
    Some((&s[start..end], &s[end + close.len()..]))
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Parse a `<methodCall>`; `None` for anything unexpected.
pub(crate) fn parse_call(body: &str) -> Option<Call> {
    if body.contains("<!") || body.len() > 64 * 1024 {
        return None; // DOCTYPE, ENTITY, CDATA: refused outright
    }
    let (method, rest) = between(body, "<methodName>", "</methodName>")?;
    let method = method.trim();
    if method.is_empty()
        || !method
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    {
        return None;
    }
    let mut params = Vec::new();
    let mut rest = rest;
    while let Some((value, after)) = between(rest, "<value>", "</value>") {
        let v = value.trim();
        let scalar = ["int", "i4", "i8", "string"]
            .iter()
            .find_map(|t| between(v, &format!("<{t}>"), &format!("</{t}>")).map(|(x, _)| x))
            .unwrap_or(v);
        params.push(unescape(scalar.trim()));
        rest = after;
    }
    Some(Call {
        method: method.to_owned(),
        params,
    })
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

const RESPONSE_HEAD: &str = "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value>";
const RESPONSE_TAIL: &str = "</value>\n</param>\n</params>\n</methodResponse>\n";

/// A `<value>`'s content in pieces (stored bytes are not copied into a new string).
enum XmlValue {
    Text(String),
    Parts(Vec<Bytes>),
}

fn xml_response(value: &XmlValue) -> Response {
    let mut body = bytes::BytesMut::new();
    body.extend_from_slice(RESPONSE_HEAD.as_bytes());
    match value {
        XmlValue::Text(t) => body.extend_from_slice(t.as_bytes()),
        XmlValue::Parts(parts) => {
            for p in parts {
                body.extend_from_slice(p);
            }
        }
    }
    body.extend_from_slice(RESPONSE_TAIL.as_bytes());
    let body = body.freeze();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/xml; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

fn fault(code: i32, message: &str) -> Response {
    let body = format!(
        "<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n<member><name>faultCode</name><value><int>{code}</int></value></member>\n<member><name>faultString</name><value><string>{}</string></value></member>\n</struct></value>\n</fault>\n</methodResponse>\n",
        esc(message)
    );
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/xml; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

/// Render off the lanes (thousands of entries are milliseconds of CPU).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, CoreError> {
    crate::off_lane::run("xml-rpc render task", f).await
}

/// `list_packages_with_serial`, rendered once per global serial.
async fn package_list(state: &AppState) -> Result<XmlValue, CoreError> {
    let serial = state.services.db.global_serial().await?;
    let key = PageKey::XmlRpcPackages;
    let page = match state.cache.get(&key, serial) {
        Some(p) => p,
        None => {
            let rows = state.services.simple_index_entries().await?;
            let page = blocking(move || {
                let mut out = String::new();
                for p in rows {
                    out.push_str(&format!(
                        "<member><name>{}</name><value><int>{}</int></value></member>\n",
                        esc(&p.name),
                        p.last_serial
                    ));
                }
                Arc::new(CachedPage::plain(serial, "xmlrpc-packages", out))
            })
            .await?;
            state.cache.put(key, page.clone());
            page
        }
    };
    Ok(XmlValue::Parts(vec![
        Bytes::from_static(b"<struct>\n"),
        page.unpacked()
            .cloned()
            .ok_or_else(|| CoreError::Internal("the kept package list is packed".into()))?,
        Bytes::from_static(b"</struct>"),
    ]))
}

/// The entries of block `block` (serials after `block * CHANGELOG_PAGE`, up to the next
/// block), rendered once per global serial `serial`.
async fn changelog_block(
    state: &AppState,
    block: i64,
    serial: i64,
) -> Result<Arc<CachedPage>, CoreError> {
    let key = PageKey::Changelog { block };
    if let Some(p) = state.cache.get(&key, serial) {
        return Ok(p);
    }
    let start = block * CHANGELOG_PAGE;
    let entries = state
        .services
        .public_changelog(start, CHANGELOG_PAGE)
        .await?;
    let page = blocking(move || {
        let mut out = String::new();
        let mut rows = Vec::new();
        for e in entries.iter().filter(|e| e.serial <= start + CHANGELOG_PAGE) {
            rows.push((e.serial, out.len()));
            out.push_str(&format!(
                "<value><array><data><value><string>{}</string></value><value><string>{}</string></value><value><int>{}</int></value><value><string>{}</string></value><value><int>{}</int></value></data></array></value>\n",
                esc(&e.project_name),
                esc(e.version.as_deref().unwrap_or("")),
                e.at.div_euclid(1_000_000),
                esc(&e.action),
                e.serial
            ));
        }
        Arc::new(CachedPage::with_rows(serial, "xmlrpc-changelog", out, rows))
    })
    .await?;
    state.cache.put(key, page.clone());
    Ok(page)
}

/// `changelog_since_serial(since)`: the entries in the next `CHANGELOG_PAGE` serials after
/// `since` (the next ones that hold any), taken from the stored blocks they fall in (two,
/// unless `since` starts a block).
async fn changelog_since(state: &AppState, since: i64) -> Result<XmlValue, CoreError> {
    let serial = state.services.db.global_serial().await?;
    let since = since.max(0);
    let mut upto = since.saturating_add(CHANGELOG_PAGE);
    let mut parts = vec![Bytes::from_static(b"<array><data>\n")];
    let mut cursor = since;
    let mut count = 0usize;
    // Only blocks below the global serial are ever read, so the cache holds at most one entry
    // per block that exists, whatever `since` callers send.
    while cursor < serial {
        if cursor >= upto {
            if count > 0 {
                break;
            }
            // nothing in that range (gaps left by rolled-back writes): never answer empty
            // while there is more, or a mirror would think itself up to date
            upto = cursor.saturating_add(CHANGELOG_PAGE);
        }
        let block = cursor / CHANGELOG_PAGE;
        let (rows, n, _) = changelog_block(state, block, serial)
            .await?
            .rows_between(cursor, upto);
        parts.push(rows);
        count += n;
        cursor = (block + 1) * CHANGELOG_PAGE;
    }
    parts.push(Bytes::from_static(b"</data></array>"));
    Ok(XmlValue::Parts(parts))
}

/// `POST /pypi` and `POST /RPC2`.
pub(crate) async fn call(State(state): State<AppState>, body: Bytes) -> Response {
    let Some(call) = std::str::from_utf8(&body).ok().and_then(parse_call) else {
        return (StatusCode::BAD_REQUEST, "Invalid XML-RPC request.\n").into_response();
    };
    let services = &state.services;
    let result = match call.method.as_str() {
        "changelog_last_serial" => services
            .db
            .global_serial()
            .await
            .map(|s| XmlValue::Text(format!("<int>{s}</int>")))
            .map_err(strongroom_core::CoreError::from),
        "list_packages_with_serial" => package_list(&state).await,
        "changelog_since_serial" => {
            let Some(since) = call.params.first().and_then(|p| p.parse::<i64>().ok()) else {
                return fault(-32602, "changelog_since_serial takes one integer");
            };
            changelog_since(&state, since).await
        }
        other => return fault(-32601, &format!("method \"{other}\" is not supported")),
    };
    match result {
        Ok(v) => xml_response(&v),
        Err(e) => {
            tracing::error!(error = %e, "xml-rpc failed");
            fault(-32500, "internal error")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_calls_and_refuses_entities() {
        let c = parse_call(
            "<?xml version='1.0'?><methodCall><methodName>changelog_since_serial</methodName><params><param><value><int>42</int></value></param></params></methodCall>",
        );
        assert_eq!(
            c,
            Some(Call {
                method: "changelog_since_serial".into(),
                params: vec!["42".into()]
            })
        );
        let c = parse_call(
            "<methodCall><methodName>list_packages_with_serial</methodName></methodCall>",
        );
        assert_eq!(c.map(|c| c.params.len()), Some(0));
        let bomb = "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol \"lol\">]><methodCall><methodName>x</methodName></methodCall>";
        assert_eq!(parse_call(bomb), None);
        assert_eq!(
            parse_call("<methodCall><methodName>a b</methodName></methodCall>"),
            None
        );
        assert_eq!(parse_call("nonsense"), None);
    }
}
