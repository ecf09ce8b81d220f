//! Sessions: random ids kept in memory (one process serves the UI, so no store is
//! needed), each with its own CSRF token; the cookie is `HttpOnly`, `SameSite=Strict`
//! and `Secure` off loopback. Sessions end on logout, after an idle time, and after an
//! absolute lifetime.

use super::random_token;
use crate::web::WebError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const SESSION_COOKIE: &str = "cassflow_session";
/// Double-submit cookie that protects the login form itself (no session exists yet).
pub const LOGIN_CSRF_COOKIE: &str = "cassflow_login_csrf";

/// A logged-in user, as handlers see it (inserted by the page and API middleware).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub username: String,
    /// Must come back with every state-changing request of this session.
    pub csrf: String,
}

struct Entry {
    session: Session,
    created: Instant,
    last_seen: Instant,
}

pub struct SessionStore {
    entries: Mutex<HashMap<String, Entry>>,
    idle_timeout: Duration,
    max_age: Duration,
}

impl Default for SessionStore {
    fn default() -> Self {
        SessionStore {
            entries: Mutex::new(HashMap::new()),
            idle_timeout: Duration::from_secs(8 * 3600),
            max_age: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

impl SessionStore {
    /// Starts a new session (a fresh id, so a session id seen before login is useless).
    pub fn create(&self, username: &str) -> Session {
        let session = Session {
            id: random_token(),
            username: username.to_owned(),
            csrf: random_token(),
        };
        let now = Instant::now();
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(
                session.id.clone(),
                Entry {
                    session: session.clone(),
                    created: now,
                    last_seen: now,
                },
            );
        }
        session
    }

    /// The live session named by the request's cookie, if any; refreshes its idle timer.
    pub fn from_headers(&self, headers: &HeaderMap) -> Option<Session> {
        let id = cookie(headers, SESSION_COOKIE)?;
        let mut entries = self.entries.lock().ok()?;
        let now = Instant::now();
        let entry = entries.get_mut(id.as_str())?;
        if self.expired(entry, now) {
            entries.remove(id.as_str());
            return None;
        }
        entry.last_seen = now;
        Some(entry.session.clone())
    }

    pub fn remove(&self, id: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(id);
        }
    }

    /// Drops expired sessions; returns how many are left.
    pub fn prune(&self) -> usize {
        let now = Instant::now();
        match self.entries.lock() {
            Ok(mut entries) => {
                entries.retain(|_, e| !self.expired(e, now));
                entries.len()
            }
            Err(_) => 0,
        }
    }

    fn expired(&self, entry: &Entry, now: Instant) -> bool {
        now.duration_since(entry.last_seen) > self.idle_timeout
            || now.duration_since(entry.created) > self.max_age
    }
}

/// The value of cookie `name` from the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A `Set-Cookie` value with the flags every cassflow cookie carries.
pub fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    secure: bool,
    max_age: Option<u64>,
) -> String {
    let mut c = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Strict");
    if secure {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    c
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = WebError;

    /// The session the middleware found; a handler on a public route gets `Unauthorized`.
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or(WebError::Unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(cookie_header: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(cookie_header).unwrap_or_else(|_| unreachable!()),
        );
        h
    }

    #[test]
    fn a_session_is_found_by_its_cookie_until_removed() {
        let store = SessionStore::default();
        let s = store.create("admin");
        let h = headers(&format!("other=1; {SESSION_COOKIE}={}", s.id));
        assert_eq!(store.from_headers(&h), Some(s.clone()));
        assert_eq!(
            store.from_headers(&headers("cassflow_session=forged")),
            None
        );
        store.remove(&s.id);
        assert_eq!(store.from_headers(&h), None);
    }

    #[test]
    fn idle_sessions_expire() {
        let store = SessionStore {
            idle_timeout: Duration::ZERO,
            ..SessionStore::default()
        };
        let s = store.create("admin");
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(
            store.from_headers(&headers(&format!("{SESSION_COOKIE}={}", s.id))),
            None
        );
        assert_eq!(store.prune(), 0);
    }

    #[test]
    fn cookies_carry_the_security_flags() {
        let c = set_cookie(SESSION_COOKIE, "v", "/", true, None);
        assert_eq!(
            c,
            "cassflow_session=v; Path=/; HttpOnly; SameSite=Strict; Secure"
        );
        let c = set_cookie(SESSION_COOKIE, "", "/", false, Some(0));
        assert!(c.ends_with("SameSite=Strict; Max-Age=0"), "{c}");
    }
}
