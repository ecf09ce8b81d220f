//! API errors as RFC 9457 problem documents (`application/problem+json` with `type`,
//! `title`, `status`, `detail`). Every error response of an API route, and every error
//! response under `/api/` (an unknown path, a wrong method, a refused host), is rewritten
//! here in one place; pages keep their HTML error page. This module decides only the shape
//! of an error body: which status an error has is [`super::error`]'s.

use super::error::ErrorBody;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::collections::HashMap;

/// The media type of a problem document.
pub const CONTENT_TYPE: &str = "application/problem+json";

/// How much of a plain-text error body (an extractor's rejection) becomes the `detail`.
const MAX_TEXT_DETAIL: usize = 4096;

/// The problem document for `status` with `detail` (`type` is `about:blank`: the status
/// says what kind of problem it is, and `title` is its reason phrase).
pub fn document(status: StatusCode, detail: &str) -> Value {
    json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
    })
}

/// The OpenAPI schema of [`document`].
pub fn schema() -> Value {
    json!({
        "type": "object",
        "description": "An RFC 9457 problem document (application/problem+json).",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": { "type": "string", "description": "about:blank: the status says what kind of problem it is" },
            "title": { "type": "string", "description": "The status's reason phrase, e.g. Not Found" },
            "status": { "type": "integer", "description": "The HTTP status" },
            "detail": { "type": "string", "description": "What failed and how to fix it" },
        },
    })
}

/// The methods of each API route pattern, for the detail of a 405.
pub type AllowedMethods = std::sync::Arc<HashMap<&'static str, Vec<Method>>>;

/// Middleware for the API router: every error response becomes a problem document; a 405
/// names the methods the route takes.
pub async fn api_errors(
    State(allowed): State<AllowedMethods>,
    request: Request,
    next: Next,
) -> Response {
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    let methods = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|m| allowed.get(m.as_str()))
        .map(|ms| ms.iter().map(Method::as_str).collect::<Vec<_>>().join(", "));
    let mut response = next.run(request).await;
    if let (StatusCode::METHOD_NOT_ALLOWED, Some(methods)) = (response.status(), methods) {
        if let Ok(v) = HeaderValue::from_str(&methods) {
            response.headers_mut().entry(header::ALLOW).or_insert(v);
        }
    }
    into_problem(&method, &path, response).await
}

/// Middleware for the whole application: error responses under `/api/` become problem
/// documents too when no API route answered (unknown path, refused host or origin).
pub async fn api_path_errors(request: Request, next: Next) -> Response {
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    let response = next.run(request).await;
    if is_api_path(&path) {
        into_problem(&method, &path, response).await
    } else {
        response
    }
}

/// Paths whose errors are always problem documents.
pub fn is_api_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// Rewrites an error response (status 400 and up) as a problem document, keeping its
/// status and headers (`WWW-Authenticate`, `Retry-After`, `Allow`); other responses and
/// responses that already are problem documents pass unchanged.
async fn into_problem(method: &Method, path: &str, response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_problem(&response) {
        return response;
    }
    let message = response
        .extensions()
        .get::<ErrorBody>()
        .map(|b| b.message.clone());
    let (mut parts, body) = response.into_parts();
    let detail = match message {
        Some(message) => message,
        None => {
            let text = is_plain_text(&parts.headers)
                .then_some(body)
                .map(|body| axum::body::to_bytes(body, MAX_TEXT_DETAIL));
            let text = match text {
                Some(read) => read
                    .await
                    .ok()
                    .map(|b| String::from_utf8_lossy(&b).trim().to_string()),
                None => None,
            };
            fallback_detail(method, path, status, &parts.headers, text)
        }
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    let body = Body::from(document(status, &detail).to_string());
    (parts, body).into_response()
}

fn is_problem(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(CONTENT_TYPE.as_bytes()))
}

fn is_plain_text(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/plain"))
}

/// The detail of an error that did not come from a [`super::WebError`]: the router's 405,
/// or an extractor's plain-text rejection.
fn fallback_detail(
    method: &Method,
    path: &str,
    status: StatusCode,
    headers: &axum::http::HeaderMap,
    text: Option<String>,
) -> String {
    if status == StatusCode::METHOD_NOT_ALLOWED {
        let allowed = headers
            .get(header::ALLOW)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .unwrap_or("the methods listed in /api/v1/openapi.json");
        return format!("method {method} is not allowed on `{path}` (fix: use {allowed})");
    }
    match text {
        Some(text) if !text.is_empty() => format!("{method} `{path}`: {text}"),
        _ => format!(
            "{method} `{path}` failed: {}",
            status.canonical_reason().unwrap_or("error")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_has_the_four_members() {
        let d = document(StatusCode::NOT_FOUND, "no such DAG `x`");
        assert_eq!(d["type"], "about:blank");
        assert_eq!(d["title"], "Not Found");
        assert_eq!(d["status"], 404);
        assert_eq!(d["detail"], "no such DAG `x`");
    }

    #[test]
    fn only_api_paths_are_api_paths() {
        assert!(is_api_path("/api/v1/nope"));
        assert!(is_api_path("/api"));
        assert!(!is_api_path("/apiary"));
        assert!(!is_api_path("/topics"));
    }
}
