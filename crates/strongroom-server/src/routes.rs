//! The route table: every path strongroom answers, in one place.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::state::AppState;
use crate::web::{accounts, admin, admin_invites, assets, manage, pages, project_manage};
use crate::{downloads, json_api, simple, upload, xmlrpc};

/// Liveness: the process answers requests. Cheap on purpose (no database, no blob store), so a
/// database outage does not get the server restarted; `/readyz` says whether it can serve.
pub(crate) async fn healthz() -> Response {
    (StatusCode::OK, "ok\n").into_response()
}

/// 404: an HTML page for browsers, PyPI's plain text for everything else.
async fn not_found(headers: axum::http::HeaderMap) -> Response {
    let wants_html = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if wants_html {
        return crate::web::pages::not_found().await.into_response();
    }
    crate::error::ApiError::not_found().into_response()
}

/// Build the application router.
pub fn router(state: AppState) -> Router {
    let upload_limit = usize::try_from(state.services.settings.max_file_size)
        .unwrap_or(usize::MAX)
        .saturating_add(64 * 1024 * 1024);
    let http = state.services.settings.http.clone();
    let app = Router::new()
        .route("/", get(pages::home))
        // the web UI: public pages
        .route("/projects/", get(pages::projects))
        .route(
            "/projects",
            get(|| async { Redirect::permanent("/projects/") }),
        )
        .route("/project/{name}/", get(pages::project))
        .route("/project/{name}/{version}/", get(pages::release))
        .route("/static/{file}", get(assets::serve))
        // the web UI: accounts (anonymous forms)
        .route(
            "/account/login/",
            get(accounts::login_page).post(accounts::login_submit),
        )
        .route(
            "/account/two-factor/",
            get(accounts::two_factor_page).post(accounts::two_factor_submit),
        )
        .route(
            "/account/webauthn/login/begin/",
            post(accounts::webauthn_login_begin),
        )
        .route(
            "/account/webauthn/login/finish/",
            post(accounts::webauthn_login_finish),
        )
        .route("/account/logout/", post(accounts::logout))
        .route(
            "/account/confirm-two-factor/",
            get(accounts::confirm_two_factor),
        )
        .route(
            "/account/freeze/",
            get(accounts::freeze_page).post(accounts::freeze_submit),
        )
        .route(
            "/account/register/",
            get(accounts::register_page).post(accounts::register_submit),
        )
        .route("/account/verify-email/", get(accounts::verify_email))
        .route(
            "/account/forgot-password/",
            get(accounts::forgot_page).post(accounts::forgot_submit),
        )
        .route(
            "/account/reset-password/",
            get(accounts::reset_page).post(accounts::reset_submit),
        )
        // the web UI: account settings (logged in)
        .route("/manage/account/", get(manage::account_page))
        .route("/manage/account/email/", post(manage::email_post))
        .route("/manage/account/password/", post(manage::password_post))
        .route(
            "/manage/account/delete/",
            post(crate::web::account_delete::delete_post),
        )
        .route(
            "/manage/account/sessions/end/",
            post(manage::end_session_post),
        )
        .route("/manage/account/two-factor/", get(manage::two_factor_page))
        .route(
            "/manage/account/totp/",
            get(manage::totp_page).post(manage::totp_confirm_post),
        )
        .route(
            "/manage/account/totp/remove/",
            post(manage::totp_remove_post),
        )
        .route(
            "/manage/account/recovery-codes/",
            post(manage::recovery_codes_post),
        )
        .route(
            "/manage/account/webauthn/begin/",
            post(manage::webauthn_begin),
        )
        .route(
            "/manage/account/webauthn/finish/",
            post(manage::webauthn_finish),
        )
        .route(
            "/manage/account/webauthn/remove/",
            post(manage::webauthn_remove_post),
        )
        .route(
            "/manage/account/tokens/",
            get(manage::tokens_page).post(manage::token_create_post),
        )
        .route(
            "/manage/account/tokens/revoke/",
            post(manage::token_revoke_post),
        )
        .route(
            "/manage/account/review/",
            get(crate::web::review::review_page).post(crate::web::review::review_post),
        )
        .route(
            "/manage/account/reauth/",
            get(manage::reauth_page).post(manage::reauth_post),
        )
        // the web UI: project management (members, invitations, held changes, releases); one
        // route per operation, the objects in the path
        .route("/manage/projects/", get(project_manage::show_projects))
        .route("/manage/project/{name}/", get(project_manage::show_project))
        .route(
            "/manage/project/{name}/invite/",
            post(project_manage::invite_member),
        )
        .route(
            "/manage/project/{name}/invitation/{id}/revoke/",
            post(project_manage::revoke_invitation),
        )
        .route(
            "/manage/project/{name}/member/{username}/role/",
            post(project_manage::change_role),
        )
        .route(
            "/manage/project/{name}/member/{username}/remove/",
            post(project_manage::remove_member),
        )
        .route(
            "/manage/project/{name}/leave/",
            post(project_manage::leave_project),
        )
        .route(
            "/manage/project/{name}/change/{id}/withdraw/",
            post(project_manage::withdraw_change),
        )
        .route(
            "/manage/project/{name}/release/{version}/yank/",
            post(project_manage::yank_release),
        )
        .route(
            "/manage/project/{name}/release/{version}/unyank/",
            post(project_manage::unyank_release),
        )
        .route(
            "/manage/project/{name}/release/{version}/remove/",
            post(project_manage::remove_release),
        )
        .route(
            "/manage/project/{name}/release/{version}/file/{filename}/remove/",
            post(project_manage::remove_file),
        )
        .route(
            "/manage/project/{name}/delete/",
            post(project_manage::delete_project),
        )
        .route(
            "/manage/account/invitations/",
            get(project_manage::show_invitations),
        )
        .route(
            "/manage/account/invitations/{id}/accept/",
            post(project_manage::accept_invitation),
        )
        .route(
            "/manage/account/invitations/{id}/decline/",
            post(project_manage::decline_invitation),
        )
        .route(
            "/account/veto/",
            get(project_manage::show_veto).post(project_manage::veto_change),
        )
        .route(
            "/account/veto/report/",
            post(project_manage::veto_and_report),
        )
        // the web UI: admin area (404 for non-admins); one route per operation
        .route("/admin/", get(admin::show_admin))
        .route("/admin/users/", get(admin::list_users))
        .route("/admin/projects/", get(admin::list_projects))
        .route("/admin/users/{name}/", get(admin::show_user))
        .route("/admin/users/{name}/freeze/", post(admin::freeze_user))
        .route("/admin/users/{name}/unfreeze/", post(admin::unfreeze_user))
        .route(
            "/admin/users/{name}/reset-2fa/",
            post(admin::reset_two_factor),
        )
        .route("/admin/users/{name}/restore/", post(admin::restore_user))
        .route("/admin/projects/{name}/", get(admin::show_project))
        .route(
            "/admin/projects/{name}/quarantine/",
            post(admin::quarantine_project),
        )
        .route(
            "/admin/projects/{name}/unquarantine/",
            post(admin::unquarantine_project),
        )
        .route(
            "/admin/projects/{name}/remove/",
            post(admin::remove_project),
        )
        .route(
            "/admin/projects/{name}/restore/",
            post(admin::restore_project),
        )
        .route(
            "/admin/projects/{name}/release/{version}/approve/",
            post(admin::approve_release),
        )
        .route(
            "/admin/projects/{name}/release/{version}/remove/",
            post(admin::remove_release),
        )
        .route(
            "/admin/projects/{name}/release/{version}/restore/",
            post(admin::restore_release),
        )
        .route(
            "/admin/projects/{name}/release/{version}/file/{filename}/remove/",
            post(admin::remove_file),
        )
        .route(
            "/admin/projects/{name}/release/{version}/file/{filename}/restore/",
            post(admin::restore_file),
        )
        .route(
            "/admin/projects/{name}/release/{version}/file/{filename}/approve/",
            post(admin::approve_file),
        )
        .route(
            "/admin/projects/{name}/release/{version}/file/{filename}/reject/",
            post(admin::reject_file),
        )
        .route("/admin/files/{id}", get(admin::download_file))
        .route("/admin/names/", get(admin::show_names))
        .route("/admin/names/prohibit/", post(admin::prohibit_name))
        .route("/admin/names/allow/", post(admin::allow_name))
        .route("/admin/site/", get(admin::show_site))
        .route(
            "/admin/site/switch/{switch}/on/",
            post(admin::turn_switch_on),
        )
        .route(
            "/admin/site/switch/{switch}/off/",
            post(admin::turn_switch_off),
        )
        .route("/admin/site/domains/", post(admin::check_domains))
        .route("/admin/invitations/", get(admin_invites::show_invites))
        .route("/admin/invitations/new/", post(admin_invites::invite_user))
        .route(
            "/admin/invitations/{id}/revoke/",
            post(admin_invites::revoke_invite),
        )
        .route("/admin/log/", get(admin::verify_log))
        .route("/admin/signals/", get(admin::show_signals))
        .route("/admin/changes/", get(admin::show_changes))
        .route("/admin/changes/{id}/approve/", post(admin::approve_change))
        .route(crate::host::HEALTH_PATH, get(healthz))
        .route("/metrics", get(crate::metrics::main_listener))
        .route(crate::readiness::READY_PATH, get(crate::readiness::readyz))
        .route(
            "/simple",
            get(|| async { crate::simple::moved("/simple/") }),
        )
        .route("/simple/", get(simple::index))
        .route("/simple/{name}", get(simple::project_no_slash))
        .route("/simple/{name}/", get(simple::project))
        .route("/pypi/{name}/json", get(json_api::project))
        .route("/pypi/{name}/json/", get(json_api::project))
        .route("/pypi/{name}/{version}/json", get(json_api::release))
        .route("/pypi/{name}/{version}/json/", get(json_api::release))
        .route("/packages/{*path}", get(downloads::download))
        .route(
            "/legacy/",
            post(upload::upload).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route(
            "/legacy",
            post(|| async { Redirect::permanent("/legacy/") }),
        )
        .route(
            "/pypi",
            post(xmlrpc::call).layer(DefaultBodyLimit::max(64 * 1024)),
        )
        .route(
            "/RPC2",
            post(xmlrpc::call).layer(DefaultBodyLimit::max(64 * 1024)),
        )
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            crate::body_rate::MinBodyRate::of(&http),
            crate::body_rate::min_body_rate,
        ));
    // The Host check exists only when there is a list (public_url, and http.allowed_hosts
    // besides); it answers /healthz and /readyz for any Host.
    let app = if http.allowed_hosts.is_empty() {
        app
    } else {
        let allowed: crate::host::AllowedHosts = http.allowed_hosts.clone().into();
        app.layer(axum::middleware::from_fn_with_state(
            allowed,
            crate::host::check_host,
        ))
    };
    // Every Host is checked for shape before anything else (400), list or not.
    app.layer(axum::middleware::from_fn(crate::host::check_authority))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::headers::security_headers,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.drain.clone(),
            crate::drain::close_when_draining,
        ))
        // Outermost: every answer is counted, refusals by the layers above included.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
        // Outermost: every answer, the front door's refusals included, gets its request line.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::request_log::request_line,
        ))
        .with_state(state)
}
