//! `GET /help/`: how this index works, one section per `strongroom_core::help::HelpTopic`, with
//! this index's own settings (2FA required or not, invitation and veto periods).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use minijinja::context;

use super::PageCx;
use super::errors::WebError;
use crate::state::AppState;

/// `GET /help/`
pub(crate) async fn show_help(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let cx = PageCx::load(&state, &headers).await?;
    let settings = &state.services.settings;
    cx.render(
        "help.html",
        context! {
            base_url => state.base_url(&headers),
            require_2fa => settings.require_2fa,
            invitation_hours => settings.safety.invitation_hours,
            newcomer_days => settings.safety.newcomer_days,
            pending_hours => settings.safety.pending_hours,
        },
    )
}
