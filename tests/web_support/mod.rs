//! Test helpers for the web UI: an in-process client over the application router
//! (`tower::ServiceExt::oneshot`) that keeps cookies like a browser, and the web config
//! the tests use.

#![allow(dead_code)] // each test binary uses a different part

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use cassflow::config::Config;
use cassflow::web::AppState;
use std::collections::BTreeMap;
use tower::ServiceExt;

pub const USER: &str = "admin";
pub const PASSWORD: &str = "correct-horse-battery";
pub const TOKEN: &str = "test-token-0123456789abcdef";

/// `config` with the test credentials and API token.
pub fn web_config(mut config: Config) -> Config {
    config.web.password = PASSWORD.into();
    config.web.api_token = Some(TOKEN.into());
    config
}

#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The value of the first `name="csrf"` hidden field.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self
            .body
            .find(marker)
            .unwrap_or_else(|| panic!("no CSRF field in: {}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').expect("end of value");
        self.body[start..start + end].to_string()
    }
}

/// A cookie-keeping client of the in-process router.
pub struct Client {
    app: Router,
    pub cookies: BTreeMap<String, String>,
}

pub fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Client {
    pub fn new(state: AppState) -> Self {
        Client {
            app: cassflow::web::router(state),
            cookies: BTreeMap::new(),
        }
    }

    pub async fn send(&mut self, mut request: Request<Body>) -> Resp {
        if !self.cookies.is_empty() && !request.headers().contains_key(header::COOKIE) {
            let jar = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            request
                .headers_mut()
                .insert(header::COOKIE, jar.parse().expect("cookie header"));
        }
        let response = self.app.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 64 << 20)
            .await
            .expect("body");
        let resp = Resp {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        };
        for c in resp.set_cookies() {
            let pair = c.split(';').next().unwrap_or_default();
            if let Some((k, v)) = pair.split_once('=') {
                if v.is_empty() || c.contains("Max-Age=0") {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_string(), v.to_string());
                }
            }
        }
        resp
    }

    pub async fn get(&mut self, path: &str) -> Resp {
        let r = Request::get(path).body(Body::empty()).expect("request");
        self.send(r).await
    }

    pub async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Resp {
        let r = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form(fields)))
            .expect("request");
        self.send(r).await
    }

    /// Opens /login and submits the form; returns the POST's response.
    pub async fn login(&mut self, user: &str, password: &str) -> Resp {
        let page = self.get("/login").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let csrf = page.csrf();
        self.post_form(
            "/login",
            &[
                ("username", user),
                ("password", password),
                ("csrf", &csrf),
                ("next", "/"),
            ],
        )
        .await
    }

    /// Logs in with the test credentials and returns the session's CSRF token.
    pub async fn logged_in(&mut self) -> String {
        let r = self.login(USER, PASSWORD).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        self.get("/stream").await.csrf()
    }
}

/// `Authorization: Basic` for the test user.
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}
