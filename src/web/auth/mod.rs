//! Authentication: the configured user's argon2 hash (the plain password is not kept),
//! the optional API bearer token, sessions ([`session`]), the per-address login limiter
//! ([`limiter`]), the middleware that guards pages and the API ([`middleware`]) and the
//! login and logout handlers ([`login`]), and the Host and Origin checks in front of every
//! route ([`origin`]).
//!
//! There is one user (`web.username`); the default `admin`/`admin` is refused on a
//! non-loopback bind both by config validation and again here.

pub mod limiter;
pub mod login;
pub mod middleware;
pub mod origin;
pub mod session;

pub use limiter::LoginLimiter;
pub use session::{Session, SessionStore};

use super::WebError;
use crate::config::{WebConfig, DEFAULT_PASSWORD};
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use base64::Engine;
use rand::Rng;

pub struct Auth {
    username: String,
    /// PHC string of the password (`$argon2id$...`).
    password_hash: String,
    api_token: Option<String>,
    pub sessions: SessionStore,
    pub limiter: LoginLimiter,
    /// Cookies get `Secure` off loopback (or with `web.secure_cookies`, behind a TLS proxy).
    pub secure_cookies: bool,
    /// Bounds concurrent argon2 verifications (~19 MiB each), whatever the request rate.
    hashing: std::sync::Arc<tokio::sync::Semaphore>,
    /// Bounds the verifications hashing or waiting to: a burst beyond it is refused at once
    /// (503) instead of queueing unbounded work.
    queue: std::sync::Arc<tokio::sync::Semaphore>,
}

/// argon2 verifications run at once.
const HASHING_AT_ONCE: usize = 2;
/// Login attempts hashing or waiting to, before more are refused with 503.
pub const LOGIN_QUEUE: usize = 16;

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("username", &self.username)
            .field("secure_cookies", &self.secure_cookies)
            .finish_non_exhaustive()
    }
}

impl Auth {
    /// Hashes the configured password; refuses the default one on a non-loopback bind.
    pub fn new(web: &WebConfig) -> Result<Self, WebError> {
        let loopback = web.bind.ip().is_loopback();
        if !loopback && web.password == DEFAULT_PASSWORD {
            return Err(WebError::DefaultPasswordExposed(web.bind));
        }
        let password_hash = Argon2::default()
            .hash_password(web.password.as_bytes())
            .map_err(|e| WebError::Internal(format!("cannot hash the web password: {e}")))?
            .to_string();
        Ok(Auth {
            username: web.username.clone(),
            password_hash,
            api_token: web.api_token.clone().filter(|t| !t.is_empty()),
            sessions: SessionStore::default(),
            limiter: LoginLimiter::default(),
            secure_cookies: web.secure_cookies || !loopback,
            hashing: std::sync::Arc::new(tokio::sync::Semaphore::new(HASHING_AT_ONCE)),
            queue: std::sync::Arc::new(tokio::sync::Semaphore::new(LOGIN_QUEUE)),
        })
    }

    /// Whether the username and password are the configured ones; `Err(Busy)` at once when
    /// [`LOGIN_QUEUE`] attempts are already hashing or waiting. Argon2 runs on the blocking
    /// pool; the username comparison takes the same time whether it matches or not.
    pub async fn check_password(&self, username: &str, password: &str) -> Result<bool, WebError> {
        let Ok(_queued) = self.queue.clone().try_acquire_owned() else {
            return Err(WebError::Busy);
        };
        let user_ok = constant_time_eq(username.as_bytes(), self.username.as_bytes());
        let hash = self.password_hash.clone();
        let password = password.to_owned();
        let Ok(_permit) = self.hashing.acquire().await else {
            return Ok(false);
        };
        let password_ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash).is_ok_and(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
        })
        .await
        .unwrap_or(false);
        Ok(user_ok && password_ok)
    }

    /// True when a bearer token is configured and `token` is it.
    pub fn check_token(&self, token: &str) -> bool {
        self.api_token
            .as_deref()
            .is_some_and(|t| constant_time_eq(t.as_bytes(), token.as_bytes()))
    }
}

/// Compares without an early exit, so the time taken does not reveal the matching prefix.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 256 random bits, URL-safe base64 (session ids and CSRF tokens).
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web(password: &str, bind: &str) -> WebConfig {
        WebConfig {
            bind: bind.parse().unwrap_or_else(|_| unreachable!()),
            password: password.into(),
            ..WebConfig::default()
        }
    }

    #[tokio::test]
    async fn only_the_configured_credentials_pass() {
        let auth = Auth::new(&web("s3cret-pass", "127.0.0.1:0")).unwrap();
        assert!(auth.password_hash.starts_with("$argon2id$"));
        assert!(!auth.password_hash.contains("s3cret-pass"));
        assert!(matches!(
            auth.check_password("admin", "s3cret-pass").await,
            Ok(true)
        ));
        assert!(matches!(
            auth.check_password("admin", "s3cret-pasS").await,
            Ok(false)
        ));
        assert!(matches!(
            auth.check_password("root", "s3cret-pass").await,
            Ok(false)
        ));
        assert!(!auth.secure_cookies);
    }

    #[test]
    fn secure_cookies_can_be_asked_for_behind_a_tls_proxy() {
        let mut config = web("a-long-password", "127.0.0.1:8080");
        config.secure_cookies = true;
        assert!(Auth::new(&config).is_ok_and(|a| a.secure_cookies));
    }

    #[tokio::test]
    async fn a_burst_beyond_the_queue_is_refused_at_once() {
        let auth = std::sync::Arc::new(Auth::new(&web("s3cret-pass", "127.0.0.1:0")).unwrap());
        // Hold every hashing slot, so queued attempts stay queued.
        let slots = auth
            .hashing
            .clone()
            .acquire_many_owned(HASHING_AT_ONCE as u32)
            .await;
        let queued: Vec<_> = (0..LOGIN_QUEUE)
            .map(|_| {
                let auth = auth.clone();
                tokio::spawn(async move { auth.check_password("admin", "s3cret-pass").await })
            })
            .collect();
        for _ in 0..10_000 {
            if auth.queue.available_permits() == 0 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(auth.queue.available_permits(), 0);
        assert!(matches!(
            auth.check_password("admin", "s3cret-pass").await,
            Err(WebError::Busy)
        ));
        drop(slots);
        for q in queued {
            assert!(matches!(q.await, Ok(Ok(true))));
        }
    }

    #[test]
    fn default_password_is_refused_off_loopback() {
        assert!(matches!(
            Auth::new(&web(DEFAULT_PASSWORD, "0.0.0.0:8080")),
            Err(WebError::DefaultPasswordExposed(_))
        ));
        let auth = Auth::new(&web("a-long-password", "0.0.0.0:8080")).unwrap();
        assert!(auth.secure_cookies);
    }

    #[test]
    fn tokens_are_random_and_compared_exactly() {
        assert_ne!(random_token(), random_token());
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
