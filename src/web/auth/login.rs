//! `GET/POST /login` and `POST /logout`. The login form is protected by a double-submit
//! CSRF cookie (there is no session yet); a successful login starts a fresh session and
//! returns to the page that asked for it (same-site paths only).

use super::middleware::ClientIp;
use super::session::{cookie, set_cookie, LOGIN_CSRF_COOKIE, SESSION_COOKIE};
use super::{constant_time_eq, random_token, Session};
use crate::web::{layout, AppState, Routes, WebError};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;

pub fn register(routes: Routes) -> Routes {
    routes
        .public(Method::GET, "/login", login_page)
        .public(Method::POST, "/login", login)
        .page(Method::POST, "/logout", logout)
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    next: Option<String>,
}

/// Only a local absolute path of visible ASCII may be returned to: no `//host`, `/\host` or
/// `/<TAB>/host` (browsers drop tabs and read backslashes as slashes).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && n.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<NextQuery>,
) -> Response {
    let next = safe_next(query.next.as_deref());
    if state.auth.sessions.from_headers(&headers).is_some() {
        return Redirect::to(&next).into_response();
    }
    form_response(&state, StatusCode::OK, &next, None)
}

/// The login form with a fresh double-submit token.
fn form_response(
    state: &AppState,
    status: StatusCode,
    next: &str,
    error: Option<&str>,
) -> Response {
    let token = random_token();
    let set = set_cookie(
        LOGIN_CSRF_COOKIE,
        &token,
        "/login",
        state.auth.secure_cookies,
        Some(3600),
    );
    let body: Markup = layout::bare(
        "Log in",
        html! {
            main class="login" {
                h1 { "cassflow" }
                @if let Some(e) = error { p class="error" role="alert" { (e) } }
                form method="post" action="/login" {
                    input type="hidden" name="csrf" value=(token);
                    input type="hidden" name="next" value=(next);
                    label { "Username" input name="username" id="username" autocomplete="username" required autofocus; }
                    label { "Password" input name="password" id="password" type="password" autocomplete="current-password" required; }
                    button type="submit" id="login" { "Log in" }
                }
            }
        },
    );
    (status, [(header::SET_COOKIE, set)], body).into_response()
}

async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, WebError> {
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if expected.is_empty() || !constant_time_eq(expected.as_bytes(), form.csrf.as_bytes()) {
        return Err(WebError::Forbidden(
            "the login form expired or did not come from this site: reload /login".into(),
        ));
    }
    let next = safe_next(form.next.as_deref());
    if let Err(retry_after) = state.auth.limiter.check(ip) {
        tracing::warn!(%ip, "login refused: too many failed attempts");
        return Err(WebError::TooManyAttempts { retry_after });
    }
    // Counted before hashing, so a burst of parallel guesses cannot all pass the check;
    // a success clears it.
    state.auth.limiter.failure(ip);
    if !state
        .auth
        .check_password(&form.username, &form.password)
        .await?
    {
        // Debug formatting escapes newlines and control characters: no log injection.
        tracing::warn!(%ip, username = ?form.username, "login failed");
        return Ok(form_response(
            &state,
            StatusCode::UNAUTHORIZED,
            &next,
            Some("Wrong username or password."),
        ));
    }
    state.auth.limiter.success(ip);
    let session = state.auth.sessions.create(&form.username);
    tracing::info!(%ip, username = ?session.username, "logged in");
    let set = set_cookie(
        SESSION_COOKIE,
        &session.id,
        "/",
        state.auth.secure_cookies,
        None,
    );
    let clear = set_cookie(
        LOGIN_CSRF_COOKIE,
        "",
        "/login",
        state.auth.secure_cookies,
        Some(0),
    );
    let mut response = Redirect::to(&next).into_response();
    for c in [set, clear] {
        if let Ok(v) = c.parse() {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    Ok(response)
}

async fn logout(State(state): State<AppState>, session: Session) -> Response {
    state.auth.sessions.remove(&session.id);
    tracing::info!(username = ?session.username, "logged out");
    let clear = set_cookie(SESSION_COOKIE, "", "/", state.auth.secure_cookies, Some(0));
    ([(header::SET_COOKIE, clear)], Redirect::to("/login")).into_response()
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_returned_to() {
        assert_eq!(safe_next(Some("/topics?x=1")), "/topics?x=1");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(None), "/");
        assert_eq!(safe_next(Some("/\t/evil.example")), "/");
        assert_eq!(safe_next(Some("/a\\b")), "/");
    }
}
