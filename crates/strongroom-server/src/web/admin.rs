//! The admin area: its start page (signals), the lists of users and projects, and what every
//! section shares (the change form, confirmations, links). The sections are `admin_users`,
//! `admin_projects`, `admin_site`, `admin_review`, `admin_invites`, `admin_impact` and
//! `admin_upstream`. Only admins see it; for anyone else every admin path is a 404 (its
//! existence is not revealed). Every change is a CSRF-checked POST with a required reason.

use axum::extract::{Query, State};
use axum::response::Response;
use minijinja::{Value, context};
use serde::Deserialize;
use strongroom_core::timeline::parse_time;

use super::errors::WebError;
use super::extract::Admin;
use super::{PageCx, read, see_other};
use crate::state::AppState;

/// An admin section with the `?done=` confirmation.
pub(super) fn section_page(cx: PageCx, q: &AdminQuery, ctx: Value) -> Result<Response, WebError> {
    cx.render(
        "admin.html",
        context! { done => done_message(q.done.as_deref()), ..ctx },
    )
}

/// Every admin change's form: the reason the log keeps, and (for some) one more field.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct AdminForm {
    #[serde(default)]
    pub(super) reason: String,
    /// `prohibit_name`, `allow_name`: the name.
    #[serde(default)]
    pub(super) name: String,
    /// `restore_user`: when the roles to bring back were held (RFC 3339; empty = before the
    /// incident).
    #[serde(default)]
    pub(super) roles_at: String,
    /// `unfreeze_user`, `restore_user`: an address the admin confirmed the owner controls.
    #[serde(default)]
    pub(super) trust_address: String,
}

impl AdminForm {
    pub(super) fn trust(&self) -> Option<&str> {
        Some(self.trust_address.as_str()).filter(|t| !t.trim().is_empty())
    }
}

/// `?done=` and `?since=` of the admin pages.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct AdminQuery {
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    pub(super) since: Option<String>,
}

/// Fixed confirmations (never reflected text).
fn done_message(key: Option<&str>) -> Option<&'static str> {
    Some(match key? {
        "freeze" => "The account was frozen.",
        "unfreeze" => {
            "The account was unfrozen. Its tokens and sessions stay ended; it signs in only after a password reset, whose link went to the addresses it had before the incident (the timeline's admin:user:unfreeze entry names them and what is left for the owner to review)."
        }
        "reset-2fa" => {
            "Two-factor authentication was reset; a password reset link went to the account's verified addresses."
        }
        "restore-user" => {
            "The account was restored; it signs in only after a password reset, whose link went to the addresses it had before the incident."
        }
        "quarantine" => "The project was quarantined.",
        "release" => "The project was released from quarantine.",
        "remove" => "The project was removed.",
        "restore" => "The project was restored.",
        "approve" => "The release was published with all its files.",
        "approve-partial" => {
            "The release was published with the files that were not held on their own. The files marked held below joined it after its quarantine: each needs its own approval or rejection."
        }
        "remove-release" => "The release was removed.",
        "restore-release" => "The release was restored.",
        "remove-file" => "The file was removed.",
        "restore-file" => "The file was restored.",
        "approve-file" => "The held file was published.",
        "reject-file" => "The held file was rejected and deleted.",
        "prohibit" => "The name is now prohibited.",
        "allow" => "The name is allowed again.",
        "allow-upstream" => {
            "The name is allowed again. This index has served it from an upstream index (or the name watch found it there), so installs of it through this index now get the upstream's project. To keep it for local projects, add it to upstream.private_patterns."
        }
        "switch" => "The switch was set.",
        "approve-change" => "The role change was approved and applied.",
        _ => return None,
    })
}

pub(super) fn done(page: &str, key: &str) -> Response {
    see_other(&format!("{page}?done={key}"), Vec::new())
}

pub(super) fn since_of(q: &AdminQuery) -> Result<Option<i64>, WebError> {
    match q.since.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => Ok(Some(parse_time(s).map_err(WebError::from)?)),
    }
}

/// How many of each signal group's newest entries the admin start page lists.
const SIGNALS_PER_GROUP: i64 = 5;

/// How many entries a signal kind's full list shows.
const SIGNAL_LOG_SHOWN: i64 = 500;

/// `GET /admin/`
pub(crate) async fn show_admin(
    State(state): State<AppState>,
    Admin { cx, .. }: Admin,
) -> Result<Response, WebError> {
    let s = &state.services;
    let held = s.db.quarantined_releases().await?.len();
    let held_files = s.db.held_files().await?.len();
    let changes = s.db.all_pending_role_changes().await?.len();
    let now = s.now();
    let users = read::all_users(&state).await?;
    let on_hold: Vec<String> = users
        .iter()
        .filter(|u| u.deleted_at.is_none() && strongroom_core::hold::is_held(u, now))
        .map(|u| u.username.clone())
        .collect();
    let frozen = users
        .iter()
        .filter(|u| u.deleted_at.is_none() && u.frozen_at.is_some())
        .count();
    let signals = s.signal_groups(SIGNALS_PER_GROUP).await?;
    cx.render(
        "admin.html",
        context! {
            section => "",
            held_releases => held,
            held_files => held_files,
            pending_changes => changes,
            on_hold => on_hold,
            frozen => frozen,
            signal_groups => super::ser(&signals),
            signal_days => strongroom_core::signals::SIGNAL_DAYS,
        },
    )
}

/// `?kind=` of the signal list.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct SignalQuery {
    #[serde(default)]
    kind: Option<String>,
}

/// `GET /admin/signals/?kind=ACTION`: every event of one signal kind over the start page's
/// period, newest first (the windows' counted refusals among them).
pub(crate) async fn show_signals(
    State(state): State<AppState>,
    Admin { cx, .. }: Admin,
    Query(q): Query<SignalQuery>,
) -> Result<Response, WebError> {
    let kind = q.kind.as_deref().unwrap_or_default();
    let (kind, entries) = state
        .services
        .signal_log(kind, SIGNAL_LOG_SHOWN)
        .await?
        .ok_or_else(WebError::not_found)?;
    cx.render(
        "admin.html",
        context! {
            section => "signals",
            signal_action => kind.action(),
            signal_description => kind.describe(),
            signal_days => strongroom_core::signals::SIGNAL_DAYS,
            entries => super::ser(&entries),
        },
    )
}

/// `GET /admin/users/`
pub(crate) async fn list_users(
    State(state): State<AppState>,
    Admin { cx, .. }: Admin,
) -> Result<Response, WebError> {
    let users = read::all_users(&state).await?;
    cx.render(
        "admin.html",
        context! { section => "users", users => super::ser(&users) },
    )
}

/// `GET /admin/projects/`
pub(crate) async fn list_projects(
    State(state): State<AppState>,
    Admin { cx, .. }: Admin,
) -> Result<Response, WebError> {
    let projects = read::all_projects(&state).await?;
    let hidden = state.services.db.projects_not_active().await?;
    let held = state.services.db.quarantined_releases().await?;
    let held_files = state.services.db.held_files().await?;
    cx.render(
        "admin.html",
        context! {
            section => "projects",
            projects => super::ser(&projects),
            hidden => super::ser(&hidden),
            held => super::ser(&held),
            held_files => super::ser(&held_files),
        },
    )
}

impl AdminQuery {
    /// The `?done=` key.
    pub(super) fn done(&self) -> Option<&str> {
        self.done.as_deref()
    }
}

/// `/admin/{kind}/{name}/`, the name percent-encoded (so nothing in it needs HTML escaping).
pub(super) fn page_path(kind: &str, name: &str) -> Value {
    Value::from_safe_string(format!("/admin/{kind}/{}/", encode(name)))
}

pub(super) fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use minijinja::context;

    use crate::web::templates::render;

    /// Every admin section renders; every change form carries the CSRF token and a required reason.
    #[test]
    fn admin_sections_render_with_csrf_and_reason() {
        let t = 1_700_000_000_000_000_i64;
        let entry = context! { time => "2026-11-22T13:05:01Z", actor => "cli:root", action => "admin:user:freeze",
        target => "user mallory", details => context! { reason => "takeover" }, ip => "192.0.2.1", user_agent => "UA" };
        let base = context! {
            base => minijinja::Value::from_safe_string("/admin/x/".into()),
            viewer => context! { user_id => 1, username => "root", is_admin => true, restricted => false },
            csrf_token => "tok-123",
            timeline => vec![entry.clone()],
        };
        let cases = vec![
            (
                "user",
                context! { section => "user", user => context! { username => "mallory", frozen_at => t, frozen_reason => "x" },
                emails => vec![context! { address => "m@e.org", verified_at => t, is_primary => true }], ..base.clone() },
                "action=\"/admin/x/unfreeze/\"",
            ),
            (
                "user-deleted",
                context! { section => "user", user => context! { username => "bob", deleted_at => t }, ..base.clone() },
                "roles_at",
            ),
            (
                "project",
                context! { section => "project",
                project => context! { name => "Demo", normalized_name => "demo", status => "active" },
                roles => vec![context! { username => "alice", role => "Owner" }],
                releases => vec![context! { id => 1, version => "1.0", canonical_version => "1", quarantined_at => t, quarantine_reason => "dormant" }],
                files => vec![context! { id => 9, release_id => 1, filename => "demo-1.0.tar.gz", size => 10 }],
                ..base.clone() },
                "/admin/files/9",
            ),
            (
                "names",
                context! { section => "names", names => vec![context! { name => "evil", reason => "r", created_at => t, created_by => "cli:x" }], ..base.clone() },
                "action=\"/admin/names/prohibit/\"",
            ),
            (
                "site",
                context! { section => "site", read_only => true, no_new_projects => false, flags => Vec::<i32>::new(), ..base.clone() },
                "Turn read-only off",
            ),
            (
                "log",
                context! { section => "log", intact => false, n => 7, ..base.clone() },
                "event log BROKEN at entry 7",
            ),
            (
                "start",
                context! { section => "", signal_days => 30, signal_groups => vec![
                    context! { action => "account:freeze:requested", severity => "high", count => 1,
                        newest_time => "2026-11-22T13:05:01Z", description => "asked",
                        latest => vec![context! { time => "2026-11-22T13:05:01Z", actor => "newbie",
                            action => "account:freeze:requested", target => "user alice",
                            details => context! { user => "alice", requested_by => "newbie", project => "demo" } }] },
                    context! { action => "token:use:refused", severity => "medium", count => 40,
                        newest_time => "2026-11-22T13:05:01Z", description => "old tokens", latest => vec![entry.clone()] },
                ], ..base.clone() },
                "href=\"/admin/users/newbie/\"",
            ),
            (
                "signals",
                context! { section => "signals", signal_action => "token:use:refused", signal_description => "old tokens",
                signal_days => 30, entries => vec![entry.clone()], ..base.clone() },
                "id=\"signal-log\"",
            ),
            (
                "changes",
                context! { section => "changes", changes => vec![context! { id => 3, project_name => "Demo", kind => "remove", target_name => "alice", actor_name => "eve", effective_at => t }], ..base.clone() },
                "action=\"/admin/changes/3/approve/\"",
            ),
        ];
        for (name, ctx, expect) in cases {
            let out = render("admin.html", ctx).unwrap_or_else(|e| panic!("{name}: {e:#}"));
            // paths built in the template are escaped as every value is (`/` as `&#x2f;`)
            let out = out.replace("&#x2f;", "/");
            assert!(out.contains(expect), "{name}: {expect} missing");
            // The admin change forms (base.html adds the logout form; the domain check asks
            // nothing), each posting to its own route: no `action` field names the operation.
            assert!(!out.contains("name=\"action\""), "{name}: an action field");
            let forms = out.matches("method=\"post\" action=\"/admin/").count()
                - out.matches("action=\"/admin/site/domains/\"").count();
            assert!(
                forms > 0 || ["log", "start", "signals"].contains(&name),
                "{name}: no forms"
            );
            assert_eq!(
                out.matches("method=\"post\"").count(),
                out.matches("value=\"tok-123\"").count(),
                "{name}: every form has the CSRF token"
            );
            assert_eq!(
                out.matches("name=\"reason\" required").count(),
                forms,
                "{name}: every form asks a reason"
            );
        }
    }

    /// The timeline is read by a person at a desk: times without the `T`/`Z` noise, details as
    /// key/value with yes/no and "none", hashes and user agents cut short with the whole value
    /// on hover and on expand; nothing is dropped.
    #[test]
    fn the_timeline_is_readable() {
        let hash = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        let ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";
        let entry = context! { time => "2026-11-22T13:05:01Z", actor => "alice", action => "file:upload",
        target => "project demo", details => context! { digest => hash, trusted => true, previous => (), reason => "a new release", files => vec!["a.whl", "b.tar.gz"],
            expires_at => 1_700_000_000_000_000_i64, size => 1_700_000_000_000_000_i64 },
        ip => "192.0.2.1", user_agent => ua };
        let out = render(
            "admin.html",
            context! {
                viewer => context! { user_id => 1, username => "root", is_admin => true, restricted => false },
                csrf_token => "tok", section => "user",
                user => context! { username => "alice" }, timeline => vec![entry],
            },
        )
        .expect("render");
        let table = &out[out.find("id=\"timeline\"").expect("timeline")..];
        assert!(
            table.contains("<time datetime=\"2026-11-22T13:05:01Z\""),
            "{table}"
        );
        assert!(table.contains(">2026-11-22 13:05:01</time>"), "{table}");
        assert!(table.contains("<dt>trusted</dt><dd>yes</dd>"), "{table}");
        assert!(
            table.contains("<dt>previous</dt><dd><span class=\"none\">none</span></dd>"),
            "{table}"
        );
        assert!(
            table.contains("<dt>reason</dt><dd>a new release</dd>"),
            "{table}"
        );
        assert!(
            table.contains("<dt>files</dt><dd>a.whl, b.tar.gz</dd>"),
            "{table}"
        );
        // a time in microseconds is a date; another large number stays a number
        assert!(table.contains(">2023-11-14 22:13 UTC</span>"), "{table}");
        assert!(
            table.contains("<dt>size</dt><dd>1700000000000000</dd>"),
            "{table}"
        );
        assert!(
            table.contains("<td class=\"action\"><code>file:upload</code>"),
            "{table}"
        );
        // the hash: its start shown, the whole on hover (title) and on expand
        assert!(table.contains("<code>sha256:9f86d…</code>"), "{table}");
        assert_eq!(table.matches(hash).count(), 2, "{table}");
        assert!(!table.contains("digest="), "{table}");
        // the user agent: cut, the whole on hover and expand
        let cut = minijinja::HtmlEscape("Mozilla/5.0 (X11; Linux x86_").to_string();
        assert!(table.contains(&format!("{cut}…</summary>")), "{table}");
        assert_eq!(
            table
                .matches(&minijinja::HtmlEscape(ua).to_string())
                .count(),
            2,
            "{table}"
        );
    }
}
