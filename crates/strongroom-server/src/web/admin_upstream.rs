//! The admin area's upstream section (`/admin/upstream/`): the rules for upstream projects
//! (block, allow early) with forms to add and take them back, the configured upstreams, and the
//! names found upstream by the name-conflict job. Same gate as the rest of the admin area: 404
//! for anyone but an admin, CSRF-checked POSTs, a recent password and a reason for every change.

use axum::extract::{Query, State};
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;
use strongroom_core::upstream_rules::RuleChange;

use super::admin::AdminQuery;
use super::errors::WebError;
use super::extract::{Admin, CsrfForm};
use super::{Meta, see_other};
use crate::state::AppState;

/// How many names found upstream the section lists (newest first).
const CONFLICTS_LISTED: i64 = 500;

/// A rule change: `change` is `allow`, `block`, `unallow` or `unblock`; an empty version is the
/// whole project.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct RuleForm {
    #[serde(default)]
    change: String,
    #[serde(default)]
    project: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    reason: String,
}

/// Fixed confirmations (never reflected text).
fn done_message(key: Option<&str>) -> Option<&'static str> {
    Some(match key? {
        "allow" => {
            "The rule was added: the files uploaded before now are served before the cooldown ends; files added later wait it out."
        }
        "block" => "The rule was added: it is no longer served.",
        "unallow" => "The allow was taken back: the cooldown applies again.",
        "unblock" => "The block was taken back.",
        _ => return None,
    })
}

/// `GET /admin/upstream/`
pub(crate) async fn show_upstream(
    State(state): State<AppState>,
    admin: Admin,
    Query(q): Query<AdminQuery>,
) -> Result<Response, WebError> {
    let s = &state.services;
    let rules = s.upstream_rule_list().await?;
    let conflicts: Vec<_> =
        s.db.name_conflicts(CONFLICTS_LISTED)
            .await?
            .into_iter()
            .map(|(name, upstream, found_at)| context! { name, upstream, found_at })
            .collect();
    let up = &s.settings.upstream;
    let upstreams: Vec<String> = up.client.indexes.iter().map(|i| i.url.clone()).collect();
    let patterns: Vec<String> = up
        .private_patterns
        .iter()
        .map(|p| p.as_str().to_owned())
        .collect();
    let min_age_days = up.min_age_days;
    admin.cx.render(
        "admin.html",
        context! {
            section => "upstream",
            done => done_message(q.done()),
            rules => super::ser(&rules),
            conflicts => conflicts,
            upstreams => upstreams,
            patterns => patterns,
            min_age_days => min_age_days,
        },
    )
}

/// `POST /admin/upstream/rules/` (`change`, `project`, `version`, `reason`)
pub(crate) async fn change_rule(
    State(state): State<AppState>,
    admin: Admin,
    Meta(meta): Meta,
    CsrfForm(form): CsrfForm<RuleForm>,
) -> Result<Response, WebError> {
    let change = RuleChange::parse(form.change.trim()).ok_or_else(|| {
        WebError::from(strongroom_core::CoreError::Invalid(
            "The rule is allow, block, unallow or unblock.".into(),
        ))
    })?;
    let version = Some(form.version.as_str()).filter(|v| !v.trim().is_empty());
    state
        .services
        .admin_upstream_rule(
            &admin.cap,
            change,
            &form.project,
            version,
            &form.reason,
            &meta,
        )
        .await?;
    let key = match change {
        RuleChange::Allow => "allow",
        RuleChange::Block => "block",
        RuleChange::Unallow => "unallow",
        RuleChange::Unblock => "unblock",
    };
    Ok(see_other(
        &format!("/admin/upstream/?done={key}"),
        Vec::new(),
    ))
}

#[cfg(test)]
mod tests {
    use minijinja::context;

    use crate::web::templates::render;

    /// The section renders the add form, one take-back form per rule (with its kind, project and
    /// version), the names found upstream; every form carries the CSRF token and asks a reason.
    #[test]
    fn the_upstream_section_renders_rules_forms_and_conflicts() {
        let t = 1_700_000_000_000_000_i64;
        let rule = |kind: &str, version: Option<&str>| {
            context! { project => "ctx", version => version, kind => kind, reason => "<b>why</b>", created_at => t, created_by => "cli:ops" }
        };
        let out = render(
            "admin.html",
            context! {
                viewer => context! { user_id => 1, username => "root", is_admin => true, restricted => false },
                csrf_token => "tok-123",
                section => "upstream",
                upstreams => vec!["http://up.test/simple/"],
                patterns => vec!["acme-*"],
                min_age_days => 7,
                rules => vec![rule("block", None), rule("allow", Some("1.0"))],
                conflicts => vec![context! { name => "acme-lib", upstream => "http://up.test/simple/", found_at => t }],
            },
        )
        .expect("render");
        assert!(out.contains("id=\"upstream-rule-form\""));
        assert!(out.contains("href=\"/admin/upstream/\" aria-current=\"page\""));
        assert!(out.contains("value=\"unblock\"") && out.contains("value=\"unallow\""));
        assert!(out.contains("name=\"version\" value=\"1.0\""));
        assert!(out.contains("&lt;b&gt;why") && !out.contains("<b>why</b>"));
        assert!(out.contains("acme-lib") && out.contains("<code>acme-*</code>"));
        assert_eq!(
            out.matches("method=\"post\"").count(),
            out.matches("value=\"tok-123\"").count(),
            "every form has the CSRF token"
        );
        assert_eq!(
            out.matches("action=\"/admin/upstream/rules/\"").count(),
            out.matches("name=\"reason\" required").count(),
            "every change asks a reason"
        );
        assert_eq!(out.matches("action=\"/admin/upstream/rules/\"").count(), 3);
    }
}
