//! The route table: every path strongroom answers, in one place. Routes are added through
//! [`Table`], which records each path (the server crate's clippy.toml forbids
//! `axum::Router::route` elsewhere), so a test can enumerate every route that accepts a
//! state-changing method and prove it refuses a missing or foreign CSRF token and a foreign
//! `Origin` ([`route_table`]). The API routes that take a token or a password and never a cookie
//! (upload, XML-RPC) are recorded apart, each with the reason ([`Exempt`]).

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, get, post};

use crate::state::AppState;
use crate::web::{
    account_delete, accounts, admin, admin_invites, admin_projects, admin_review, admin_site,
    admin_upstream, admin_users, assets, manage, pages, project_manage, review,
};
use crate::{downloads, json_api, simple, upload, upstream_files, xmlrpc};

/// Liveness: the process answers requests. Cheap on purpose (no database, no blob store), so a
/// database outage does not get the server restarted; `/readyz` says whether it can serve.
pub(crate) async fn healthz() -> Response {
    (StatusCode::OK, "ok\n").into_response()
}

/// 404: an HTML page for clients that ask for HTML by name (browsers), the plain text clients
/// know for everything else (the choice is protocol's `names_media`).
async fn not_found(headers: axum::http::HeaderMap) -> Response {
    let accept = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    if strongroom_protocol::simple::names_media(accept, "text/html") {
        return crate::web::pages::not_found().await.into_response();
    }
    crate::error::ApiError::not_found().into_response()
}

/// A route that accepts a state-changing method without the web layer's origin and CSRF
/// check, and why that is safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exempt {
    pub path: &'static str,
    pub reason: &'static str,
}

/// Every path of the table: `paths` are the web's (any method they accept other than GET and
/// HEAD is a form or JSON post behind `web::extract::CsrfForm`/`CsrfJson`), `exempt` the API's.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    pub paths: Vec<&'static str>,
    pub exempt: Vec<Exempt>,
}

/// The router under construction and what it recorded.
struct Table {
    router: Router<AppState>,
    recorded: RouteTable,
    /// The state the web routes' answer layer reads (`None`: the table is only recorded).
    web: Option<AppState>,
}

impl Table {
    fn new(web: Option<AppState>) -> Table {
        Table {
            router: Router::new(),
            recorded: RouteTable::default(),
            web,
        }
    }

    /// A web route: its non-GET methods must pass the origin and CSRF check, and its answers
    /// pass `web::answer::finish` (an error page gets the signed-in header).
    fn route(mut self, path: &'static str, methods: MethodRouter<AppState>) -> Table {
        self.recorded.paths.push(path);
        let methods = match &self.web {
            Some(state) => methods.layer(axum::middleware::from_fn_with_state(
                state.clone(),
                crate::web::answer::finish,
            )),
            None => methods,
        };
        self.add(path, methods)
    }

    /// A read route of the package protocols (GET and HEAD only, as every web route's GET):
    /// its handlers answer with `ApiError`, never a web page, so the web's answer layer (and
    /// the copy of the request's headers it keeps) is not on the hottest paths.
    fn protocol(mut self, path: &'static str, methods: MethodRouter<AppState>) -> Table {
        self.recorded.paths.push(path);
        self.add(path, methods)
    }

    /// An API route authenticated by a token or password, never by the session cookie.
    fn api_route(
        mut self,
        path: &'static str,
        methods: MethodRouter<AppState>,
        reason: &'static str,
    ) -> Table {
        self.recorded.exempt.push(Exempt { path, reason });
        self.add(path, methods)
    }

    #[allow(clippy::disallowed_methods)] // the one place routes reach the router
    fn add(mut self, path: &'static str, methods: MethodRouter<AppState>) -> Table {
        self.router = self.router.route(path, methods);
        self
    }
}

const UPLOAD_EXEMPT: &str = "the upload API: authenticated by an API token or password in     Authorization (Basic), never by the session cookie; twine and uv post it from other origins";
const XMLRPC_EXEMPT: &str = "the XML-RPC API: read-only queries, no cookie is read";
const REDIRECT_EXEMPT: &str = "a permanent redirect to /legacy/: changes nothing";
const OSV_EXEMPT: &str = "the OSV query API: a read-only query, no cookie is read";
const FILE_STATUS_EXEMPT: &str = "the file-status batch: a read-only query, no cookie is read";

/// Every route's path, as recorded by the table (for the test that sweeps them).
pub fn route_table() -> RouteTable {
    table(0, None).recorded
}

/// Build the application router.
pub fn router(state: AppState) -> Router {
    let upload_limit = usize::try_from(state.services.settings.max_file_size)
        .unwrap_or(usize::MAX)
        .saturating_add(64 * 1024 * 1024);
    let not_found = axum::handler::Handler::layer(
        not_found,
        axum::middleware::from_fn_with_state(state.clone(), crate::web::answer::finish),
    );
    table(upload_limit, Some(state.clone()))
        .router
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            crate::front::Front::new(state.clone()),
            crate::front::front,
        ))
        .with_state(state)
}

/// Every route, in one table.
fn table(upload_limit: usize, web: Option<AppState>) -> Table {
    Table::new(web)
        .route("/", get(pages::home))
        // the web UI: public pages
        .route("/projects/", get(pages::projects))
        .route(
            "/projects",
            get(|| async { Redirect::permanent("/projects/") }),
        )
        .route("/help/", get(crate::web::help::show_help))
        .route("/help", get(|| async { Redirect::permanent("/help/") }))
        .route("/project/{name}/", get(pages::project))
        .route("/project/{name}/{version}/", get(pages::release))
        .route("/static/{file}", get(assets::serve))
        .route(
            "/image-proxy/{signature}/{url}",
            get(crate::image_proxy::serve),
        )
        // the web UI: accounts (anonymous forms)
        .route(
            "/account/login/",
            get(accounts::show_login).post(accounts::log_in),
        )
        .route("/account/two-factor/", get(accounts::show_second_factor))
        .route(
            "/account/two-factor/totp/",
            post(accounts::verify_totp_login),
        )
        .route(
            "/account/two-factor/recovery/",
            post(accounts::verify_recovery_login),
        )
        .route(
            "/account/webauthn/login/begin/",
            post(accounts::begin_key_login),
        )
        .route(
            "/account/webauthn/login/finish/",
            post(accounts::finish_key_login),
        )
        .route("/account/logout/", post(accounts::log_out))
        .route(
            "/account/confirm-two-factor/",
            get(accounts::confirm_two_factor),
        )
        .route(
            "/account/freeze/",
            get(accounts::show_freeze).post(accounts::freeze_account),
        )
        .route(
            "/account/register/",
            get(accounts::show_register).post(accounts::register),
        )
        .route("/account/verify-email/", get(accounts::verify_email))
        .route(
            "/account/forgot-password/",
            get(accounts::show_forgot_password).post(accounts::request_password_reset),
        )
        .route(
            "/account/reset-password/",
            get(accounts::show_reset_password).post(accounts::reset_password),
        )
        // the web UI: account settings (logged in), one route per operation
        .route("/manage/account/", get(manage::show_account))
        .route("/manage/account/email/add/", post(manage::add_email))
        .route(
            "/manage/account/email/{id}/remove/",
            post(manage::remove_email),
        )
        .route(
            "/manage/account/email/{id}/primary/",
            post(manage::make_email_primary),
        )
        .route(
            "/manage/account/email/{id}/resend/",
            post(manage::resend_verification),
        )
        .route("/manage/account/password/", post(manage::change_password))
        .route(
            "/manage/account/delete/",
            post(account_delete::delete_account),
        )
        .route(
            "/manage/account/session/{id}/end/",
            post(manage::end_session),
        )
        .route("/manage/account/two-factor/", get(manage::show_two_factor))
        .route(
            "/manage/account/totp/",
            get(manage::show_totp_enrolment).post(manage::confirm_totp),
        )
        .route("/manage/account/totp/remove/", post(manage::remove_totp))
        .route(
            "/manage/account/recovery-codes/",
            post(manage::regenerate_recovery_codes),
        )
        .route(
            "/manage/account/webauthn/begin/",
            post(manage::begin_key_registration),
        )
        .route(
            "/manage/account/webauthn/finish/",
            post(manage::finish_key_registration),
        )
        .route(
            "/manage/account/webauthn/{id}/remove/",
            post(manage::remove_security_key),
        )
        .route(
            "/manage/account/tokens/",
            get(manage::show_tokens).post(manage::create_token),
        )
        .route(
            "/manage/account/token/{id}/revoke/",
            post(manage::revoke_token),
        )
        .route("/manage/account/review/", get(review::show_review))
        .route(
            "/manage/account/review/{kind}/{id}/keep/",
            post(review::keep_suspect),
        )
        .route(
            "/manage/account/review/{kind}/{id}/drop/",
            post(review::drop_suspect),
        )
        .route(
            "/manage/account/reauth/",
            get(manage::show_reauth).post(manage::confirm_reauth),
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
        .route("/admin/users/{name}/", get(admin_users::show_user))
        .route(
            "/admin/users/{name}/freeze/",
            post(admin_users::freeze_user),
        )
        .route(
            "/admin/users/{name}/unfreeze/",
            post(admin_users::unfreeze_user),
        )
        .route(
            "/admin/users/{name}/reset-2fa/",
            post(admin_users::reset_two_factor),
        )
        .route(
            "/admin/users/{name}/restore/",
            post(admin_users::restore_user),
        )
        .route("/admin/projects/{name}/", get(admin_projects::show_project))
        .route(
            "/admin/projects/{name}/quarantine/",
            post(admin_projects::quarantine_project),
        )
        .route(
            "/admin/projects/{name}/unquarantine/",
            post(admin_projects::unquarantine_project),
        )
        .route(
            "/admin/projects/{name}/remove/",
            post(admin_projects::remove_project),
        )
        .route(
            "/admin/projects/{name}/restore/",
            post(admin_projects::restore_project),
        )
        .route(
            "/admin/projects/{name}/release/{version}/approve/",
            post(admin_projects::approve_release),
        )
        .route(
            "/admin/projects/{name}/release/{version}/remove/",
            post(admin_projects::remove_release),
        )
        .route(
            "/admin/projects/{name}/release/{version}/restore/",
            post(admin_projects::restore_release),
        )
        .route(
            "/admin/projects/{name}/release/{version}/file/{filename}/remove/",
            post(admin_projects::remove_file),
        )
        .route(
            "/admin/projects/{name}/release/{version}/file/{filename}/restore/",
            post(admin_projects::restore_file),
        )
        .route(
            "/admin/projects/{name}/release/{version}/file/{filename}/approve/",
            post(admin_projects::approve_file),
        )
        .route(
            "/admin/projects/{name}/release/{version}/file/{filename}/reject/",
            post(admin_projects::reject_file),
        )
        .route("/admin/files/{id}", get(admin_projects::download_file))
        .route("/admin/names/", get(admin_site::show_names))
        .route("/admin/names/prohibit/", post(admin_site::prohibit_name))
        .route("/admin/names/allow/", post(admin_site::allow_name))
        .route("/admin/site/", get(admin_site::show_site))
        .route(
            "/admin/site/switch/{switch}/on/",
            post(admin_site::turn_switch_on),
        )
        .route(
            "/admin/site/switch/{switch}/off/",
            post(admin_site::turn_switch_off),
        )
        .route("/admin/site/domains/", post(admin_site::check_domains))
        .route("/admin/invitations/", get(admin_invites::show_invites))
        .route("/admin/invitations/new/", post(admin_invites::invite_user))
        .route(
            "/admin/invitations/{id}/revoke/",
            post(admin_invites::revoke_invite),
        )
        .route("/admin/upstream/", get(admin_upstream::show_upstream))
        .route("/admin/upstream/rules/", post(admin_upstream::change_rule))
        .route("/admin/review/", get(admin_review::show_queue))
        .route("/admin/review/{id}/", get(admin_review::show_item))
        .route("/admin/review/{id}/approve/", post(admin_review::approve))
        .route("/admin/review/{id}/reject/", post(admin_review::reject))
        .route("/admin/log/", get(admin_site::verify_log))
        .route(
            "/admin/upstream/log",
            get(crate::web::admin_upstream_log::show_log),
        )
        .route(
            "/admin/impact/{project}/",
            get(crate::web::admin_impact::show_impact),
        )
        .route("/admin/signals/", get(admin::show_signals))
        .route("/admin/changes/", get(admin_site::show_changes))
        .route(
            "/admin/changes/{id}/approve/",
            post(admin_site::approve_change),
        )
        .protocol(crate::host::HEALTH_PATH, get(healthz))
        .protocol("/metrics", get(crate::metrics::main_listener))
        .protocol(crate::readiness::READY_PATH, get(crate::readiness::readyz))
        .protocol(
            "/simple",
            get(|| async { crate::simple::moved("/simple/") }),
        )
        .protocol("/simple/", get(simple::index))
        .protocol("/simple/{name}", get(simple::project_no_slash))
        .protocol(simple::PROJECT_ROUTE, get(simple::project))
        .protocol("/pypi/{name}/json", get(json_api::project))
        .protocol("/pypi/{name}/json/", get(json_api::project))
        .protocol("/pypi/{name}/{version}/json", get(json_api::release))
        .protocol("/pypi/{name}/{version}/json/", get(json_api::release))
        .protocol("/osv/", get(crate::osv_out::index))
        .protocol("/osv/{file}", get(crate::osv_out::record))
        .protocol("/packages/{*path}", get(downloads::download))
        .protocol(
            "/upstream/files/{project}/{sha256}/{filename}",
            get(upstream_files::file),
        )
        .api_route(
            "/legacy/",
            post(upload::upload).layer(DefaultBodyLimit::max(upload_limit)),
            UPLOAD_EXEMPT,
        )
        .api_route(
            "/legacy",
            post(|| async { Redirect::permanent("/legacy/") }),
            REDIRECT_EXEMPT,
        )
        .api_route(
            "/pypi",
            post(xmlrpc::call).layer(DefaultBodyLimit::max(64 * 1024)),
            XMLRPC_EXEMPT,
        )
        .api_route(
            "/RPC2",
            post(xmlrpc::call).layer(DefaultBodyLimit::max(64 * 1024)),
            XMLRPC_EXEMPT,
        )
        .api_route(
            "/osv/v1/query",
            post(crate::osv_api::query).layer(DefaultBodyLimit::max(16 * 1024)),
            OSV_EXEMPT,
        )
        .protocol("/api/file-status/{sha256}", get(crate::file_status::one))
        .api_route(
            "/api/file-status",
            post(crate::file_status::batch)
                .layer(DefaultBodyLimit::max(crate::file_status::MAX_BODY)),
            FILE_STATUS_EXEMPT,
        )
}
