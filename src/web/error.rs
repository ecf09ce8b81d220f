//! The web module's one error type and its one mapping to HTTP responses. Pages get a
//! small HTML page, the API gets a problem document (`super::problem` converts the body
//! using the [`ErrorBody`] extension every error response carries).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebError {
    /// A page was asked for without a session; the browser is sent to the login page.
    #[error("login required")]
    LoginRequired { next: String },
    /// An API call without valid credentials.
    #[error("authentication required: use HTTP basic auth, a bearer token, or log in")]
    Unauthorized,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("too many login attempts from this address; try again in {} s", .retry_after.as_secs().max(1))]
    TooManyAttempts { retry_after: Duration },
    /// Too many login attempts are hashing or waiting to (the argon2 queue is full).
    #[error("too many logins in progress; try again in a second")]
    Busy,
    /// A `Host` header this server does not answer to (DNS rebinding, or a missing entry).
    #[error("this server does not answer to host `{host}` (fix: open it by its bind address, or add the name to web.allowed_hosts, e.g. allowed_hosts = [\"{name}\"])")]
    MisdirectedHost { host: String, name: String },
    #[error("not found: {0}")]
    NotFound(String),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("Kafka: {0}")]
    Kafka(String),
    #[error("Cassandra: {0}")]
    Cassandra(String),
    #[error("internal error: {0}")]
    Internal(String),
    #[error("cannot listen on {bind}: {source} (fix: set web.bind to a free address)")]
    Bind {
        bind: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("web server: {0}")]
    Io(std::io::Error),
    #[error(
        "refusing to serve the default password on the non-loopback address {0}: set web.password"
    )]
    DefaultPasswordExposed(SocketAddr),
}

/// The status and message of an error response, for layers that re-render it (the API
/// turns it into a problem document).
#[derive(Debug, Clone)]
pub struct ErrorBody {
    pub status: StatusCode,
    pub message: String,
}

impl WebError {
    pub fn status(&self) -> StatusCode {
        match self {
            WebError::LoginRequired { .. } => StatusCode::FOUND,
            WebError::Unauthorized => StatusCode::UNAUTHORIZED,
            WebError::Forbidden(_) => StatusCode::FORBIDDEN,
            WebError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            WebError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            WebError::MisdirectedHost { .. } => StatusCode::MISDIRECTED_REQUEST,
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::Kafka(_) | WebError::Cassandra(_) => StatusCode::BAD_GATEWAY,
            WebError::Internal(_)
            | WebError::Bind { .. }
            | WebError::Io(_)
            | WebError::DefaultPasswordExposed(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = self.to_string();
        if (status.is_server_error() || status == StatusCode::BAD_GATEWAY)
            && !matches!(self, WebError::Busy)
        {
            tracing::warn!(status = status.as_u16(), error = %message, "request failed");
        }
        let mut response = match &self {
            WebError::LoginRequired { next } => {
                let location = format!("/login?next={}", urlencode(next));
                let mut r = StatusCode::FOUND.into_response();
                if let Ok(v) = HeaderValue::from_str(&location) {
                    r.headers_mut().insert(header::LOCATION, v);
                }
                r
            }
            _ => (status, super::layout::error_page(status, &message)).into_response(),
        };
        match &self {
            WebError::Unauthorized => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"cassflow\", charset=\"UTF-8\""),
                );
            }
            WebError::Busy => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            WebError::TooManyAttempts { retry_after } => {
                if let Ok(v) = HeaderValue::from_str(&retry_after.as_secs().max(1).to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            _ => {}
        }
        response
            .extensions_mut()
            .insert(ErrorBody { status, message });
        response
    }
}

/// Percent-encodes everything but unreserved characters (for query values).
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_required_redirects_with_the_page_to_return_to() {
        let r = WebError::LoginRequired {
            next: "/topics/a b".into(),
        }
        .into_response();
        assert_eq!(r.status(), StatusCode::FOUND);
        assert_eq!(r.headers()[header::LOCATION], "/login?next=/topics/a%20b");
    }

    #[test]
    fn unauthorized_asks_for_basic_auth() {
        let r = WebError::Unauthorized.into_response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap_or_default()
            .starts_with("Basic"));
    }
}
