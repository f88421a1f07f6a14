//! strongroom's HTTP surface (axum): the simple API (PEP 503/691), the JSON API, uploads
//! (`POST /legacy/`), downloads and the server-rendered web UI (`web`). Every route is listed
//! in [`routes`]; every error becomes a
//! response in [`error`].

mod body_rate;
mod cache;
mod conn_io;
mod connections;
mod downloads;
mod drain;
mod entry;
mod error;
mod file_status;
mod freshness;
mod front;
#[doc(hidden)]
pub mod fuzz_entry;
mod gateway_pages;
mod headers;
mod host;
mod image_proxy;
mod json_api;
mod lanes;
mod metrics;
mod off_lane;
mod osv_api;
mod osv_out;
mod packed;
mod plain_copies;
mod readiness;
mod request_log;
mod root_index;
pub mod routes;
mod serve;
mod simple;
mod starting;
mod state;
mod upload;
mod upload_slots;
mod upstream_files;
mod web;
mod xmlrpc;

pub use connections::ConnLimits;
pub use drain::Drain;
pub use metrics::serve_metrics;
pub use routes::router;
pub use serve::serve;
pub use starting::Starting;
pub use state::AppState;
