//! The read-only part of PyPI's XML-RPC API that mirrors still use (bandersnatch's default):
//! `list_packages_with_serial`, `changelog_last_serial`, `changelog_since_serial`. The lists are
//! the public view (`core::visibility`): hidden projects are not listed, and changelog entries of
//! what the public does not see carry only their project's name.
//! The request parser is deliberately tiny: no DTDs, no entities beyond the five predefined
//! ones, bounded size — so billion-laughs and external-entity payloads have nothing to expand.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// Most journal entries one `changelog_since_serial` call returns (as PyPI).
const MAX_CHANGELOG: i64 = 50_000;

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

fn xml_response(value: String) -> Response {
    let body = format!(
        "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value>{value}</value>\n</param>\n</params>\n</methodResponse>\n"
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
            .map(|s| format!("<int>{s}</int>"))
            .map_err(strongroom_core::CoreError::from),
        "list_packages_with_serial" => services.simple_index_entries().await.map(|rows| {
            let mut out = String::from("<struct>\n");
            for p in rows {
                out.push_str(&format!(
                    "<member><name>{}</name><value><int>{}</int></value></member>\n",
                    esc(&p.name),
                    p.last_serial
                ));
            }
            out.push_str("</struct>");
            out
        }),
        "changelog_since_serial" => {
            let Some(since) = call.params.first().and_then(|p| p.parse::<i64>().ok()) else {
                return fault(-32602, "changelog_since_serial takes one integer");
            };
            services
                .public_changelog(since, MAX_CHANGELOG)
                .await
                .map(|entries| {
                    let mut out = String::from("<array><data>\n");
                    for e in entries {
                        out.push_str(&format!(
                            "<value><array><data><value><string>{}</string></value><value><string>{}</string></value><value><int>{}</int></value><value><string>{}</string></value><value><int>{}</int></value></data></array></value>\n",
                            esc(&e.project_name),
                            esc(e.version.as_deref().unwrap_or("")),
                            e.at.div_euclid(1_000_000),
                            esc(&e.action),
                            e.serial
                        ));
                    }
                    out.push_str("</data></array>");
                    out
                })
        }
        other => return fault(-32601, &format!("method \"{other}\" is not supported")),
    };
    match result {
        Ok(v) => xml_response(v),
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
