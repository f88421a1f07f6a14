//! The admin area's review queue (`/admin/review/`, `core::review_queue`): the releases and
//! files held for review, one item's files, findings with their snippets and the capability
//! diff, and the approve and reject forms. Same gate as the rest of the admin area: 404 for
//! anyone but an admin, CSRF-checked POSTs, a recent password and a reason for every decision.
//! Every text that came with an upload is shown with its control and bidi characters escaped
//! (HTML escaping alone lets a bidi override reorder a snippet).

use axum::extract::{Path, Query, State};
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;

use super::admin::AdminQuery;
use super::errors::WebError;
use super::extract::{Admin, CsrfForm};
use super::{Meta, see_other};
use crate::state::AppState;

/// A decision's form: the reason the log keeps.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct DecisionForm {
    #[serde(default)]
    reason: String,
}

/// Fixed confirmations (never reflected text).
fn done_message(key: Option<&str>) -> Option<&'static str> {
    Some(match key? {
        "approve" => "Published. Files held on their own, if any, stay in the queue.",
        "reject" => "Rejected: removed (its filenames cannot be reused) and recorded as malicious.",
        _ => return None,
    })
}

/// True for a character that must not be shown as it is (controls, bidi, invisible marks).
fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
        )
}

/// `s` with every hidden character as `\u{…}`.
fn visible(s: &str) -> String {
    s.chars()
        .map(|c| {
            if hidden(c) {
                format!("\\u{{{:x}}}", u32::from(c))
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Every string of `v` made [`visible`].
fn visible_json(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        J::String(s) => J::String(visible(&s)),
        J::Array(a) => J::Array(a.into_iter().map(visible_json).collect()),
        J::Object(o) => J::Object(
            o.into_iter()
                .map(|(k, v)| (visible(&k), visible_json(v)))
                .collect(),
        ),
        other => other,
    }
}

/// `v` for the template, every string [`visible`] (the queue's types always serialise).
fn shown<T: serde::Serialize>(v: &T) -> minijinja::Value {
    super::ser(&visible_json(serde_json::to_value(v).unwrap_or_default()))
}

/// `GET /admin/review/`
pub(crate) async fn show_queue(
    State(state): State<AppState>,
    admin: Admin,
    Query(q): Query<AdminQuery>,
) -> Result<Response, WebError> {
    let items = state.services.review_list().await?;
    admin.cx.render(
        "admin.html",
        context! {
            section => "review",
            done => done_message(q.done()),
            items => shown(&items),
        },
    )
}

/// `GET /admin/review/{id}/`
pub(crate) async fn show_item(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let item = match state.services.review_show(&id).await {
        Ok(i) => i,
        Err(strongroom_core::CoreError::Invalid(_)) => return Err(WebError::not_found()),
        Err(e) => return Err(e.into()),
    };
    admin.cx.render(
        "admin.html",
        context! { section => "review-item", item => shown(&item) },
    )
}

/// `POST /admin/review/{id}/approve/`
pub(crate) async fn approve(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    Meta(meta): Meta,
    CsrfForm(form): CsrfForm<DecisionForm>,
) -> Result<Response, WebError> {
    state
        .services
        .review_approve(&admin.cap, &id, &form.reason, &meta)
        .await?;
    Ok(see_other("/admin/review/?done=approve", Vec::new()))
}

/// `POST /admin/review/{id}/reject/`
pub(crate) async fn reject(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    Meta(meta): Meta,
    CsrfForm(form): CsrfForm<DecisionForm>,
) -> Result<Response, WebError> {
    state
        .services
        .review_reject(&admin.cap, &id, &form.reason, &meta)
        .await?;
    Ok(see_other("/admin/review/?done=reject", Vec::new()))
}

#[cfg(test)]
mod tests {
    use minijinja::context;

    use crate::web::templates::render;

    fn base() -> minijinja::Value {
        context! {
            viewer => context! { user_id => 1, username => "root", is_admin => true, restricted => false },
            csrf_token => "tok-123",
        }
    }

    /// The list links each item; the item page shows files, findings with escaped snippets,
    /// the diff in words, and two forms (approve, reject) each with the CSRF token and a
    /// required reason.
    #[test]
    fn the_queue_and_an_item_render_with_escaped_snippets_and_reasoned_forms() {
        let t = 1_700_000_000_000_000_i64;
        let list = render(
            "admin.html",
            context! { section => "review", items => vec![context! { id => "r7", kind => "release",
                project => "ctx", version => "0.2", held_at => t, reason => "dormant", files => vec!["ctx-0.2.whl"],
                uploaders => vec!["alice"], score => 42, findings => 1 }], ..base() },
        )
        .expect("render");
        let list = list.replace("&#x2f;", "/");
        assert!(list.contains("href=\"/admin/review/r7/\""), "{list}");
        assert!(list.contains("href=\"/admin/review/\" aria-current=\"page\""));

        let snippet = super::visible("x = \"<script>\" + os.environ \u{202e}gnp.");
        let item = render(
            "admin.html",
            context! { section => "review-item", item => context! { id => "r7", kind => "release",
                project => "ctx", version => "0.2", held_at => t, reason => "dormant", score => 42,
                diff_words => vec!["adds encoding, environment-read, network to ctx.py"],
                held_apart => vec!["f9"],
                files => vec![context! { file_id => 3, filename => "ctx-0.2.whl", sha256 => "ab", size => 10,
                    uploader => "alice", uploaded_at => t, scan => context! { score => 42, scanner_version => 1,
                    capabilities => std::collections::BTreeMap::from([("ctx.py", vec!["network"])]),
                    findings => vec![context! { rule => "SR-M1-env-exfiltration", severity => "high", path => "ctx.py",
                        line => 3, snippet => snippet, message => "env to network" }] } }] }, ..base() },
        )
        .expect("render");
        let item = item.replace("&#x2f;", "/");
        assert!(item.contains("adds encoding, environment-read, network to ctx.py"));
        assert!(item.contains("SR-M1-env-exfiltration"));
        assert!(item.contains("&lt;script&gt;") && !item.contains("<script>\""));
        assert!(item.contains("\\u{202e}gnp.") && !item.contains('\u{202e}'));
        assert!(item.contains("action=\"/admin/review/r7/approve/\""));
        assert!(item.contains("action=\"/admin/review/r7/reject/\""));
        assert!(
            item.contains("The reason is published as written"),
            "the reject form says its reason is public"
        );
        assert!(item.contains("href=\"/admin/review/f9/\""));
        assert_eq!(
            item.matches("method=\"post\"").count(),
            item.matches("value=\"tok-123\"").count()
        );
        assert_eq!(item.matches("name=\"reason\" required").count(), 2);
    }

    #[test]
    fn json_strings_are_made_visible_everywhere() {
        let v = serde_json::json!({"a": ["x\u{1b}[2J", {"b\u{200f}": "ok"}], "n": 3});
        assert_eq!(
            super::visible_json(v),
            serde_json::json!({"a": ["x\\u{1b}[2J", {"b\\u{200f}": "ok"}], "n": 3})
        );
    }
}
