//! The web UI over the real router and a temporary SQLite database (tower `oneshot`): every
//! page renders, security headers, CSRF refusals that change nothing, escaping of hostile
//! metadata, and the upload endpoint ignoring cookies.

#![allow(clippy::unwrap_used, clippy::type_complexity)]

mod accounts;
mod file_status;
mod osv_out;
mod pages;
mod registration;
mod review_queue;
mod route_sweep;
mod support;
