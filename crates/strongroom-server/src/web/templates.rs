//! The page templates: minijinja 3 with HTML auto-escaping, every template embedded in the
//! binary (the list below), plus the filters and functions the templates use.

use std::sync::LazyLock;

use minijinja::{AutoEscape, Environment, Value};

/// Every template, by name. A test renders each one with a fixture context.
pub(crate) const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/base.html")),
    ("macros.html", include_str!("../../templates/macros.html")),
    ("error.html", include_str!("../../templates/error.html")),
    ("home.html", include_str!("../../templates/home.html")),
    (
        "projects.html",
        include_str!("../../templates/projects.html"),
    ),
    ("project.html", include_str!("../../templates/project.html")),
    ("message.html", include_str!("../../templates/message.html")),
    ("login.html", include_str!("../../templates/login.html")),
    (
        "two_factor.html",
        include_str!("../../templates/two_factor.html"),
    ),
    (
        "register.html",
        include_str!("../../templates/register.html"),
    ),
    (
        "forgot_password.html",
        include_str!("../../templates/forgot_password.html"),
    ),
    (
        "reset_password.html",
        include_str!("../../templates/reset_password.html"),
    ),
    ("reauth.html", include_str!("../../templates/reauth.html")),
    ("account.html", include_str!("../../templates/account.html")),
    (
        "two_factor_manage.html",
        include_str!("../../templates/two_factor_manage.html"),
    ),
    (
        "totp_enrol.html",
        include_str!("../../templates/totp_enrol.html"),
    ),
    (
        "recovery_codes.html",
        include_str!("../../templates/recovery_codes.html"),
    ),
    ("tokens.html", include_str!("../../templates/tokens.html")),
    (
        "token_created.html",
        include_str!("../../templates/token_created.html"),
    ),
    ("admin.html", include_str!("../../templates/admin.html")),
    (
        "admin_invites.html",
        include_str!("../../templates/admin_invites.html"),
    ),
    (
        "admin_impact.html",
        include_str!("../../templates/admin_impact.html"),
    ),
    (
        "admin_upstream_log.html",
        include_str!("../../templates/admin_upstream_log.html"),
    ),
    (
        "admin_upstream.html",
        include_str!("../../templates/admin_upstream.html"),
    ),
    (
        "admin_review.html",
        include_str!("../../templates/admin_review.html"),
    ),
    ("freeze.html", include_str!("../../templates/freeze.html")),
    (
        "my_projects.html",
        include_str!("../../templates/my_projects.html"),
    ),
    (
        "manage_project.html",
        include_str!("../../templates/manage_project.html"),
    ),
    (
        "invitations.html",
        include_str!("../../templates/invitations.html"),
    ),
    ("veto.html", include_str!("../../templates/veto.html")),
    ("review.html", include_str!("../../templates/review.html")),
    ("help.html", include_str!("../../templates/help.html")),
];

static ENV: LazyLock<Result<Environment<'static>, minijinja::Error>> = LazyLock::new(build);

fn build() -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    for (name, source) in TEMPLATES {
        env.add_template(name, source)?;
    }
    env.add_function("asset", |name: &str| {
        Value::from_safe_string(super::assets::url(name))
    });
    env.add_filter("datetime", |micros: Option<i64>| {
        micros.map(format_time).unwrap_or_default()
    });
    env.add_filter("date", |micros: Option<i64>| {
        micros.map(format_date).unwrap_or_default()
    });
    env.add_filter("filesize", |n: i64| format_size(n));
    env.add_filter("help_links", |text: &str| {
        Value::from_safe_string(help_links(text))
    });
    Ok(env)
}

/// Render `name` with `ctx`, plus `page_template` (the name: `base.html` marks the page with it,
/// so the browser test can prove that it visited every template).
pub(crate) fn render(name: &str, ctx: Value) -> Result<String, minijinja::Error> {
    let env = ENV.as_ref().map_err(|e| {
        minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
    })?;
    let ctx = minijinja::context! { page_template => name, ..ctx };
    env.get_template(name)?.render(ctx)
}

/// A message as HTML, its `/help/#topic` references made links (core's refusals end with
/// "See /help/#topic for more information."; a page shows them clickable). Everything else is
/// escaped.
pub(crate) fn help_links(text: &str) -> String {
    const HELP: &str = "/help/#";
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest = text;
    while let Some(at) = rest.find(HELP) {
        let after = &rest[at + HELP.len()..];
        let len = after
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
            .unwrap_or(after.len());
        let starts_word = rest[..at]
            .chars()
            .next_back()
            .is_none_or(char::is_whitespace);
        if len == 0 || !starts_word {
            escape_into(&mut out, &rest[..at + HELP.len()]);
            rest = after;
            continue;
        }
        escape_into(&mut out, &rest[..at]);
        let anchor = &after[..len];
        out.push_str(&format!("<a href=\"{HELP}{anchor}\">{HELP}{anchor}</a>"));
        rest = &after[len..];
    }
    escape_into(&mut out, rest);
    out
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
}

/// `2026-11-22 11:20 UTC` from microseconds since the epoch.
pub(crate) fn format_time(micros: i64) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .ok()
        .and_then(|t| t.format(fmt).ok())
        .unwrap_or_default()
}

/// `2026-11-22` from microseconds since the epoch.
pub(crate) fn format_date(micros: i64) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .ok()
        .and_then(|t| t.format(fmt).ok())
        .unwrap_or_default()
}

/// `12.3 kB` (decimal units, as PyPI shows sizes).
pub(crate) fn format_size(n: i64) -> String {
    const UNITS: [&str; 5] = ["bytes", "kB", "MB", "GB", "TB"];
    if n < 1000 {
        return format!("{n} bytes");
    }
    #[allow(clippy::cast_precision_loss)]
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_references_become_links_and_the_rest_is_escaped() {
        assert_eq!(
            help_links("Nope <b>. See /help/#two-factor for more information."),
            "Nope &lt;b&gt;. See <a href=\"/help/#two-factor\">/help/#two-factor</a> for more information."
        );
        // not a reference of its own (inside a word or an absolute URL, or no topic): text
        assert_eq!(help_links("x/help/#a"), "x/help/#a");
        assert_eq!(help_links("http://h/help/#a"), "http://h/help/#a");
        assert_eq!(
            help_links("See /help/#\"><script>"),
            "See /help/#&quot;&gt;&lt;script&gt;"
        );
        assert_eq!(
            help_links("/help/#api-tokens"),
            "<a href=\"/help/#api-tokens\">/help/#api-tokens</a>"
        );
    }

    /// Every template renders with a fixture context that fills every variable it uses.
    #[test]
    fn every_template_renders() {
        use minijinja::context;
        let file = context! {
            filename => "demo-1.0-py3-none-any.whl", url => "http://x/packages/aa/bb/cc/demo.whl",
            packagetype => "bdist_wheel", python_version => "py3", size => 12_345,
            sha256 => "ab".repeat(32), uploaded_at => 1_700_000_000_000_000_i64,
        };
        let release = context! {
            version => "1.0", created_at => 1_700_000_000_000_000_i64, yanked => true,
            yanked_reason => "broken", prerelease => false, shown => true,
        };
        let project = context! {
            name => "Demo", normalized => "demo", status => "active", version => "1.0",
            is_latest => false, latest_version => "2.0", created_at => 1_700_000_000_000_000_i64,
            yanked => true, yanked_reason => "broken", summary => "A <b>demo</b>",
            description_html => "<p>Hi</p>", author => "A", maintainer => "M", license => "MIT",
            requires_python => ">=3.8", keywords => vec!["a", "b"], classifiers => vec!["X :: Y"],
            requires_dist => vec!["requests>=2"],
            links => vec![context! { label => "Source", text => "https://e.org", href => "https://e.org" }],
            maintainers => vec!["alice"],
            files => vec![file], releases => vec![release],
            install => "pip install demo",
        };
        let t = 1_700_000_000_000_000_i64;
        let ctx = context! {
            viewer => context! { user_id => 1, username => "alice", is_admin => true, restricted => true },
            csrf_token => "tok", notice => "saved", error => "bad",
            status => 404, title => "Not Found", message => "gone", retry_after => 30,
            heading => "Done", link => context! { href => "/", text => "home" },
            project_count => 2, base_url => "http://localhost", site_url => "http://localhost",
            recent => vec![context! { name => "Demo", normalized => "demo", version => "1.0", released_at => t, summary => "A <b>demo</b>" }],
            projects => vec![context! { name => "Demo", normalized => "demo", version => "1.0", released_at => t, summary => "A <b>demo</b>" }], searched => true, total => 1, q => "de", page => 1, pages => 2,
            p => project, next => "/manage/account/", username => "alice", email => "a@e.org",
            methods => context! { totp => true, webauthn => true, recovery => true },
            token => "strongroom-abc", name => "ci", scope => "project demo",
            emails => vec![context! { id => 1, address => "a@e.org", is_primary => false, verified => true }],
            sessions => vec![context! { id => 2, created_at => t, last_seen_at => t, ip => "127.0.0.1", user_agent => "UA", current => false }],
            events => vec![context! { at => t, action => "login", ip => "127.0.0.1", user_agent => "UA" }],
            totp_enabled => false,
            keys => vec![context! { id => 3, label => "key", created_at => t, last_used_at => t }],
            secret => "JBSWY3DPEHPK3PXP", qr_data_url => "data:image/svg+xml;base64,PHN2Zy8+",
            codes => vec!["aaaa-bbbb"],
            tokens => vec![context! { id => 4, name => "ci", scope => "all", created_at => t, expires_at => t, last_used_at => t }],
            section => "users",
            users => vec![context! { username => "alice", created_at => t, is_admin => true }],
            require_2fa => true, invitation_hours => 72, newcomer_days => 7, pending_hours => 72,
        };
        for (name, _) in TEMPLATES {
            let out = render(name, ctx.clone()).unwrap_or_else(|e| panic!("{name}: {e:#}"));
            // macros and included sections are fragments, not pages
            if !matches!(
                *name,
                "macros.html"
                    | "admin_invites.html"
                    | "admin_upstream_log.html"
                    | "admin_impact.html"
                    | "admin_upstream.html"
                    | "admin_review.html"
            ) {
                assert!(out.contains("<!DOCTYPE html>"), "{name}");
                assert!(!out.contains("<b>demo</b>"), "{name}: not escaped");
            }
        }
        let admin_projects = context! { section => "projects",
        projects => vec![context! { name => "Demo", normalized_name => "demo", status => "active", created_at => t, total_size => 5 }], ..ctx };
        assert!(render("admin.html", admin_projects).is_ok_and(|o| o.contains("Demo")));
    }

    /// The CSP forbids inline script and style: no template may rely on them.
    #[test]
    fn no_inline_script_or_style() {
        for (name, source) in TEMPLATES {
            let lower = source.to_ascii_lowercase();
            for bad in [
                " style=",
                "<style",
                " onclick=",
                " onload=",
                " onsubmit=",
                "javascript:",
            ] {
                assert!(!lower.contains(bad), "{name} contains {bad}");
            }
            for (at, _) in lower.match_indices("<script") {
                let tag = &lower[at..at + lower[at..].find('>').unwrap_or(0)];
                assert!(tag.contains(" src="), "{name}: inline <script>");
            }
        }
    }

    #[test]
    fn sizes_and_times() {
        assert_eq!(format_size(999), "999 bytes");
        assert_eq!(format_size(12_345), "12.3 kB");
        assert_eq!(format_size(5_000_000), "5.0 MB");
        assert_eq!(format_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_date(1_700_000_000_000_000), "2023-11-14");
    }
}
