//! The web UI and REST API (`:8080`): login, the Topics, Cassandra, Stream and Dead-letter
//! pages, JSON under `/api/v1` (with its OpenAPI document), `/metrics` and `/health`.
//!
//! Pages are rendered on the server with [maud]: templates are ordinary Rust expressions,
//! checked at compile time and HTML-escaped by default, so there are no template files to
//! embed or keep in sync with their handlers. Stylesheet, scripts and the chart code are
//! embedded in the binary ([`assets`]); nothing is loaded from a CDN.
//!
//! Every route is registered through one table ([`routes`]), which puts it behind the
//! right authentication for its kind (page: session cookie and CSRF; API: basic auth,
//! bearer token or session; public: nothing) and lets tests walk every route.
//!
//! This module reads Kafka and Cassandra for display and re-sends dead letters; it never
//! writes rows, and it owns no pipeline: the stream job and the scheduler run beside it.

pub mod api;
pub mod assets;
pub mod auth;
pub mod cassandra;
pub mod cassandra_pages;
pub mod dags;
pub mod dags_api;
pub mod dead_letters;
pub mod error;
pub mod kafka;
pub mod layout;
pub mod messages;
pub mod openapi;
pub mod problem;
pub mod routes;
pub mod sampler;
pub mod state;
pub mod stream_page;
pub mod topics;

pub use auth::Session;
pub use error::WebError;
pub use routes::{Access, RouteInfo, Routes};
pub use state::AppState;

use crate::config::Config;
use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;

/// The whole application router with its state.
pub fn router(state: AppState) -> axum::Router {
    routes::build().into_router(state)
}

/// Binds `config.web.bind` and serves until `cancel` is cancelled.
pub async fn serve(
    config: Config,
    state: AppState,
    cancel: CancellationToken,
) -> Result<(), WebError> {
    let bind = config.web.bind;
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|source| WebError::Bind { bind, source })?;
    serve_on(listener, state, cancel).await
}

/// Serves on an already bound listener (tests bind port 0) until `cancel` is cancelled;
/// also runs the metrics sampler behind the Stream page.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    state: AppState,
    cancel: CancellationToken,
) -> Result<(), WebError> {
    let bind = listener.local_addr().map_err(WebError::Io)?;
    tokio::spawn(sampler::run(state.samples.clone(), cancel.clone()));
    tokio::spawn(state::expire_sessions(state.clone(), cancel.clone()));
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    tracing::info!(%bind, "web UI and API listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { cancel.cancelled().await })
        .await
        .map_err(WebError::Io)
}
