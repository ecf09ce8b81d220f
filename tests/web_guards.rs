//! The guards in front of every route, in-process (no Kafka or Cassandra needed): the Host
//! check against DNS rebinding, the Origin check on state-changing requests, the login
//! limiter per IPv6 /64, `web.secure_cookies`, and `/health` without details for anonymous
//! callers.

mod web_support;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Method, Request, StatusCode};
use cassflow::config::Config;
use cassflow::web::auth::LoginLimiter;
use cassflow::web::AppState;
use std::net::SocketAddr;
use std::time::Duration;
use web_support::{form, Client, PASSWORD, TOKEN, USER};

/// Nothing listens on port 1: these tests must not need Kafka or Cassandra.
fn config() -> Config {
    let mut config = web_support::web_config(Config::default());
    config.kafka.bootstrap = "127.0.0.1:1".into();
    config.cassandra.contact_points = "127.0.0.1:1".into();
    config
}

fn get_with(path: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut r = Request::get(path);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.body(Body::empty()).expect("request")
}

#[tokio::test]
async fn a_host_this_server_does_not_answer_to_is_refused() {
    let mut client = Client::new(AppState::new(&config()).expect("state"));
    // DNS rebinding: the attacker's name resolves to 127.0.0.1.
    for path in ["/login", "/health", "/api/v1/pipelines", "/dags"] {
        let r = client
            .send(get_with(path, &[("host", "attacker.example:8080")]))
            .await;
        assert_eq!(r.status, StatusCode::MISDIRECTED_REQUEST, "{path}");
        assert!(r.body.contains("web.allowed_hosts"), "{path}: {}", r.body);
        assert!(r.body.contains("attacker.example"), "{path}: {}", r.body);
    }
    for host in [
        "127.0.0.1:8080",
        "localhost:8080",
        "[::1]:8080",
        "LOCALHOST",
    ] {
        let r = client.send(get_with("/login", &[("host", host)])).await;
        assert_eq!(r.status, StatusCode::OK, "{host}: {}", r.body);
    }

    let mut listed = config();
    listed.web.allowed_hosts = vec!["cassflow.example.com".into()];
    let mut client = Client::new(AppState::new(&listed).expect("state"));
    let r = client
        .send(get_with("/login", &[("host", "cassflow.example.com")]))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = client
        .send(get_with("/login", &[("host", "attacker.example")]))
        .await;
    assert_eq!(r.status, StatusCode::MISDIRECTED_REQUEST);
}

#[tokio::test]
async fn a_cross_origin_post_is_refused_even_with_session_and_csrf() {
    let mut client = Client::new(AppState::new(&config()).expect("state"));
    let csrf = client.logged_in().await;
    let logout = |headers: &[(&str, &str)]| {
        let mut r = Request::builder()
            .method(Method::POST)
            .uri("/logout")
            .header(header::HOST, "127.0.0.1:8080")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.body(Body::from(form(&[("csrf", &csrf)])))
            .expect("request")
    };
    for headers in [
        [("origin", "http://attacker.example")],
        [("origin", "null")],
        [("origin", "http://127.0.0.1:9999")],
        [("sec-fetch-site", "cross-site")],
    ] {
        let r = client.send(logout(&headers)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{headers:?}: {}", r.body);
        assert!(r.body.contains("cross-origin"), "{}", r.body);
    }
    // The session survived the refused requests; the same origin logs out.
    let r = client
        .send(logout(&[("origin", "http://127.0.0.1:8080")]))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/login");

    // The API: a bearer token from a foreign page is refused the same way.
    let r = client
        .send(
            Request::builder()
                .method(Method::POST)
                .uri("/api/v1/dead-letters/nope/resend")
                .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
                .header(header::ORIGIN, "http://attacker.example")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(r#"{"partition":0,"offset":0}"#))
                .expect("request"),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
}

/// A login POST from `ip` with the client's login CSRF token.
async fn login_from(client: &mut Client, ip: &str, password: &str) -> StatusCode {
    client.cookies.clear(); // logged out: /login shows its form
    let page = client.get("/login").await;
    let csrf = page.csrf();
    let mut r = Request::builder()
        .method(Method::POST)
        .uri("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form(&[
            ("username", USER),
            ("password", password),
            ("csrf", &csrf),
        ])))
        .expect("request");
    let addr: SocketAddr = format!("[{ip}]:40000")
        .parse()
        .unwrap_or_else(|_| format!("{ip}:40000").parse().expect("address"));
    r.extensions_mut().insert(ConnectInfo(addr));
    client.send(r).await.status
}

#[tokio::test]
async fn login_failures_are_counted_per_ipv6_64() {
    let state = AppState::new(&config())
        .expect("state")
        .with_login_limiter(LoginLimiter::new(2, Duration::from_secs(600)));
    let mut client = Client::new(state);
    // Each try from a new address of one /64: they count together.
    assert_eq!(
        login_from(&mut client, "2001:db8:0:1::1", "wrong").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_from(&mut client, "2001:db8:0:1::2", "wrong").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_from(&mut client, "2001:db8:0:1:abcd::3", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another /64 and an IPv4 client are not affected.
    assert_eq!(
        login_from(&mut client, "2001:db8:0:2::1", PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        login_from(&mut client, "192.0.2.7", PASSWORD).await,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn secure_cookies_can_be_set_behind_a_tls_proxy() {
    let mut config = config();
    config.web.secure_cookies = true;
    let mut client = Client::new(AppState::new(&config).expect("state"));
    let r = client.login(USER, PASSWORD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let session = r
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("cassflow_session="))
        .expect("session cookie");
    assert!(session.contains("; Secure"), "{session}");
    assert!(session.contains("HttpOnly"), "{session}");
}

#[tokio::test]
async fn health_shows_anonymous_callers_status_words_only() {
    let mut client = Client::new(AppState::new(&config()).expect("state"));
    let r = client.get("/health").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    let health = r.json();
    assert_eq!(health["status"], "degraded");
    assert_eq!(health["kafka"]["reachable"], false);
    assert_eq!(health["cassandra"]["reachable"], false);
    assert!(health["kafka"].get("error").is_none(), "{health}");
    assert!(health["cassandra"].get("error").is_none(), "{health}");
    assert!(!r.body.contains("127.0.0.1"), "{}", r.body);

    // The API token (or a session) sees why.
    let r = client
        .send(get_with(
            "/health",
            &[("authorization", &format!("Bearer {TOKEN}"))],
        ))
        .await;
    assert!(r.json()["kafka"]["error"].is_string(), "{}", r.body);
    client.logged_in().await;
    let r = client.get("/health").await;
    assert!(r.json()["cassandra"]["error"].is_string(), "{}", r.body);
}

/// A `MakeWriter` into a shared buffer, to read what was logged.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn a_username_is_logged_escaped() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let mut client = Client::new(AppState::new(&config()).expect("state"));
    let forged = "eve\n2026-01-01T00:00:00Z  INFO logged in username=admin\x1b[2J";
    let r = client.login(forged, "wrong").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let text = String::from_utf8_lossy(&captured.0.lock().map(|b| b.clone()).unwrap_or_default())
        .into_owned();
    let line = text
        .lines()
        .find(|l| l.contains("login failed"))
        .unwrap_or_else(|| panic!("no login failed line in {text}"));
    assert!(line.contains(r#"eve\n2026"#), "{line}");
    assert!(!text.contains('\x1b'), "{text:?}");
    assert!(
        !text.lines().any(|l| l.starts_with("2026-01-01T00:00:00Z")),
        "{text}"
    );
}
