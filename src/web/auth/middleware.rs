//! The guards [`crate::web::routes`] puts in front of every page and API route.
//!
//! Pages: a session cookie, else a redirect to `/login`; every request that is not GET or
//! HEAD must carry the session's CSRF token (form field `csrf` or header `X-CSRF-Token`),
//! checked here before the handler runs, so no form can forget it.
//!
//! API: HTTP basic auth (rate-limited like the login form), `Authorization: Bearer` with
//! `web.api_token`, or a session cookie (the UI's own polling; with `X-CSRF-Token` for
//! anything but GET/HEAD).

use super::constant_time_eq;
use super::session::Session;
use crate::web::{AppState, WebError};
use axum::body::{to_bytes, Body};
use axum::extract::{ConnectInfo, FromRequest, Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

pub const CSRF_HEADER: &str = "x-csrf-token";
pub const CSRF_FIELD: &str = "csrf";
/// Largest form body read while looking for the CSRF token.
const MAX_FORM_BYTES: usize = 1 << 20;

/// The client's address (the TCP peer; proxies' headers are not trusted).
pub fn client_ip(request: &Request) -> IpAddr {
    ip_of(request.extensions())
}

fn ip_of(extensions: &axum::http::Extensions) -> IpAddr {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// Extractor for the client's address (unspecified when served without connect info).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(ip_of(&parts.extensions)))
    }
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD)
}

fn csrf_header(headers: &HeaderMap) -> Option<String> {
    headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Pages: session required; CSRF token required on state-changing requests.
pub async fn require_session(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, WebError> {
    let Some(session) = state.auth.sessions.from_headers(request.headers()) else {
        let next = if is_safe(request.method()) {
            request
                .uri()
                .path_and_query()
                .map_or("/".to_string(), |p| p.to_string())
        } else {
            "/".to_string()
        };
        return Err(WebError::LoginRequired { next });
    };
    let mut request = if is_safe(request.method()) {
        request
    } else {
        check_csrf(request, &session).await?
    };
    request.extensions_mut().insert(session);
    Ok(next.run(request).await)
}

/// Reads the token from the header or the form body (the body is put back for the handler).
async fn check_csrf(request: Request, session: &Session) -> Result<Request, WebError> {
    let wrong =
        || WebError::Forbidden("missing or wrong CSRF token: reload the page and try again".into());
    if let Some(token) = csrf_header(request.headers()) {
        return if constant_time_eq(token.as_bytes(), session.csrf.as_bytes()) {
            Ok(request)
        } else {
            Err(wrong())
        };
    }
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|e| WebError::BadRequest(format!("cannot read the form: {e}")))?;
    let probe = Request::from_parts(parts.clone(), Body::from(bytes.clone()));
    let fields = axum::Form::<Vec<(String, String)>>::from_request(probe, &())
        .await
        .map_err(|_| wrong())?;
    let token = fields
        .0
        .into_iter()
        .find(|(k, _)| k == CSRF_FIELD)
        .map(|(_, v)| v)
        .ok_or_else(wrong)?;
    if !constant_time_eq(token.as_bytes(), session.csrf.as_bytes()) {
        return Err(wrong());
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// API: basic auth, bearer token or session cookie.
pub async fn require_api(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, WebError> {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match authorization {
        Some(value) => {
            let (scheme, credentials) = value.split_once(' ').unwrap_or((value.as_str(), ""));
            if scheme.eq_ignore_ascii_case("bearer") {
                if !state.auth.check_token(credentials.trim()) {
                    return Err(WebError::Unauthorized);
                }
            } else if scheme.eq_ignore_ascii_case("basic") {
                check_basic(&state, client_ip(&request), credentials.trim()).await?;
            } else {
                return Err(WebError::Unauthorized);
            }
        }
        None => {
            let session = state
                .auth
                .sessions
                .from_headers(request.headers())
                .ok_or(WebError::Unauthorized)?;
            if !is_safe(request.method()) {
                let ok = csrf_header(request.headers())
                    .is_some_and(|t| constant_time_eq(t.as_bytes(), session.csrf.as_bytes()));
                if !ok {
                    return Err(WebError::Forbidden(
                        "a session-authenticated API call that changes state needs the X-CSRF-Token header".into(),
                    ));
                }
            }
            request.extensions_mut().insert(session);
        }
    }
    Ok(next.run(request).await)
}

async fn check_basic(state: &AppState, ip: IpAddr, encoded: &str) -> Result<(), WebError> {
    if let Err(retry_after) = state.auth.limiter.check(ip) {
        return Err(WebError::TooManyAttempts { retry_after });
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    // Counted before hashing (see login); a success clears it.
    state.auth.limiter.failure(ip);
    let ok = match decoded.as_deref().and_then(|d| d.split_once(':')) {
        Some((user, password)) => state.auth.check_password(user, password).await?,
        None => false,
    };
    if ok {
        state.auth.limiter.success(ip);
        Ok(())
    } else {
        tracing::warn!(%ip, "API basic auth failed");
        Err(WebError::Unauthorized)
    }
}
