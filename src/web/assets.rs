//! Static assets, embedded in the binary at compile time (no CDN, no files to install):
//! the stylesheet, the page script, the chart code and the icon. Public routes.

use super::{Routes, WebError};
use axum::extract::Path;
use axum::http::{header, Method};
use axum::response::{IntoResponse, Response};

/// (file name, content type, content)
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("assets/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/app.js"),
    ),
    (
        "chart.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/chart.js"),
    ),
    (
        "dags.css",
        "text/css; charset=utf-8",
        include_str!("assets/dags.css"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_str!("assets/favicon.svg"),
    ),
];

pub fn register(routes: Routes) -> Routes {
    routes.public(Method::GET, "/static/{file}", asset)
}

async fn asset(Path(file): Path<String>) -> Result<Response, WebError> {
    let (_, content_type, body) = ASSETS
        .iter()
        .find(|(name, _, _)| *name == file)
        .ok_or_else(|| WebError::NotFound(format!("/static/{file}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, *content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        *body,
    )
        .into_response())
}
