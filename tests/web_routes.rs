//! The web UI's routes in-process (no server, no Kafka or Cassandra needed): login and
//! logout, cookie flags, CSRF, the login rate limit, API auth by basic auth, bearer token
//! and session, and a walk over EVERY route of the router expecting refusal without a
//! session (the list comes from the route table itself, so new routes are covered).

mod web_support;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use cassflow::config::Config;
use cassflow::web::auth::LoginLimiter;
use cassflow::web::{routes, Access, AppState};
use std::time::Duration;
use web_support::{basic, Client, PASSWORD, TOKEN, USER};

/// Nothing listens on port 1: these tests must not need Kafka or Cassandra.
fn config() -> Config {
    let mut config = web_support::web_config(Config::default());
    config.kafka.bootstrap = "127.0.0.1:1".into();
    config.cassandra.contact_points = "127.0.0.1:1".into();
    config
}

fn state() -> AppState {
    AppState::new(&config()).expect("state")
}

/// A concrete path for a route pattern (`{param}` -> `x`).
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "x" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_route_refuses_without_a_session() {
    let table = routes::build();
    let list = table.list().to_vec();
    // Wrong passwords below would otherwise trip the login limiter.
    let mut client =
        Client::new(state().with_login_limiter(LoginLimiter::new(10_000, Duration::from_secs(60))));
    let (mut pages, mut apis) = (0, 0);
    for route in &list {
        let path = concrete(route.path);
        let request = Request::builder()
            .method(route.method.clone())
            .uri(&path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from("csrf=x"))
            .expect("request");
        let r = client.send(request).await;
        match route.access {
            Access::Page => {
                pages += 1;
                assert_eq!(r.status, StatusCode::FOUND, "{} {path}", route.method);
                assert!(
                    r.location().starts_with("/login"),
                    "{} {path}: {}",
                    route.method,
                    r.location()
                );
            }
            Access::Api => {
                apis += 1;
                assert_eq!(
                    r.status,
                    StatusCode::UNAUTHORIZED,
                    "{} {path}",
                    route.method
                );
                assert!(r.headers.contains_key(header::WWW_AUTHENTICATE), "{path}");
                assert!(r.json()["detail"].is_string(), "{path}: {}", r.body);
                // A wrong token or password is refused the same way.
                for auth in ["Bearer wrong-token-0123456789", &basic(USER, "wrong")] {
                    let request = Request::builder()
                        .method(route.method.clone())
                        .uri(&path)
                        .header(header::AUTHORIZATION, auth)
                        .body(Body::empty())
                        .expect("request");
                    let r = client.send(request).await;
                    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{auth} {path}");
                }
            }
            Access::Public => {
                assert!(
                    ["/login", "/health"].contains(&route.path)
                        || route.path.starts_with("/static/"),
                    "unexpected public route {}",
                    route.path
                );
            }
        }
    }
    assert!(
        pages >= 8 && apis >= 10,
        "pages {pages}, api {apis}: {list:?}"
    );
}

#[tokio::test]
async fn every_api_route_is_in_openapi() {
    let doc = cassflow::web::openapi::document();
    assert_eq!(doc["openapi"], "3.1.0");
    for route in routes::build()
        .list()
        .iter()
        .filter(|r| r.access == Access::Api)
    {
        let method = route.method.as_str().to_lowercase();
        assert!(
            doc["paths"][route.path][&method].is_object(),
            "{} {} is not in the OpenAPI document",
            route.method,
            route.path
        );
    }
    let mut client = Client::new(state());
    let r = client
        .send(
            Request::get("/api/v1/openapi.json")
                .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), doc);
}

#[tokio::test]
async fn login_sets_a_strict_http_only_session_and_logout_ends_it() {
    let mut client = Client::new(state());
    let r = client.get("/topics").await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(r.location(), "/login?next=/topics");

    let page = client.get("/login").await;
    let login_cookie = page.set_cookies().join("\n");
    assert!(
        login_cookie.contains("HttpOnly") && login_cookie.contains("SameSite=Strict"),
        "{login_cookie}"
    );

    let r = client.login(USER, PASSWORD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/");
    let session = r
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("cassflow_session="))
        .expect("session cookie");
    assert!(session.contains("; HttpOnly"), "{session}");
    assert!(session.contains("; SameSite=Strict"), "{session}");
    assert!(
        !session.contains("Secure"),
        "plain HTTP on loopback: {session}"
    );

    let r = client.get("/").await;
    assert_eq!(
        r.location(),
        cassflow::web::layout::NAV[0].0,
        "home is the first nav entry"
    );
    let r = client.get("/stream").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body.contains(USER) && r.body.contains("Log out"),
        "{}",
        r.body
    );
    for (_, label) in cassflow::web::layout::NAV {
        assert!(r.body.contains(label), "nav has {label}");
    }
    let csrf = r.csrf();

    let r = client.post_form("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/login");
    // The old cookie no longer opens anything, even if a client kept it.
    let r = client.get("/stream").await;
    assert_eq!(r.status, StatusCode::FOUND);
}

#[tokio::test]
async fn wrong_credentials_are_refused_without_a_session() {
    let mut client = Client::new(state());
    for (user, password) in [(USER, "wrong"), ("root", PASSWORD), ("", "")] {
        let r = client.login(user, password).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{user}/{password}");
        assert!(r.body.contains("Wrong username or password"));
        assert!(!client.cookies.contains_key("cassflow_session"));
    }
}

#[tokio::test]
async fn the_login_form_needs_its_csrf_token() {
    let mut client = Client::new(state());
    client.get("/login").await;
    for token in ["", "forged"] {
        let r = client
            .post_form(
                "/login",
                &[("username", USER), ("password", PASSWORD), ("csrf", token)],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "token {token:?}");
        assert!(!client.cookies.contains_key("cassflow_session"));
    }
}

#[tokio::test]
async fn posts_need_the_session_csrf_token() {
    let mut client = Client::new(state());
    let csrf = client.logged_in().await;
    for fields in [vec![], vec![("csrf", "forged")]] {
        let r = client.post_form("/logout", &fields).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{fields:?}");
        let r = client
            .post_form(
                "/dead-letters/users/resend",
                &[&fields[..], &[("partition", "0"), ("offset", "0")]].concat(),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{fields:?}");
    }
    // Still logged in: the refused POSTs did nothing.
    assert_eq!(client.get("/stream").await.status, StatusCode::OK);
    // A token of another session does not work either.
    let mut other = Client::new(state());
    let other_csrf = other.logged_in().await;
    assert_ne!(other_csrf, csrf);
    let r = client.post_form("/logout", &[("csrf", &other_csrf)]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // The header works like the field (for scripts).
    let r = client
        .send(
            Request::post("/logout")
                .header("x-csrf-token", &csrf)
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn login_attempts_are_rate_limited() {
    let state = state().with_login_limiter(LoginLimiter::new(3, Duration::from_secs(600)));
    let mut client = Client::new(state);
    for _ in 0..3 {
        assert_eq!(
            client.login(USER, "wrong").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    // Now even the right password is refused, and so is API basic auth from this address.
    let r = client.login(USER, PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(r.headers.contains_key(header::RETRY_AFTER));
    assert!(!client.cookies.contains_key("cassflow_session"));
    let r = client
        .send(
            Request::get("/api/v1/pipelines")
                .header(header::AUTHORIZATION, basic(USER, PASSWORD))
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn cookies_are_secure_off_loopback() {
    let mut config = config();
    config.web.bind = "0.0.0.0:8080".parse().expect("addr");
    let mut client = Client::new(AppState::new(&config).expect("state"));
    let r = client.login(USER, PASSWORD).await;
    let session = r.set_cookies().join("\n");
    assert!(
        session.contains("cassflow_session=") && session.contains("; Secure"),
        "{session}"
    );
    // And the default password is refused there outright.
    config.web.password = cassflow::config::DEFAULT_PASSWORD.into();
    assert!(AppState::new(&config).is_err());
}

#[tokio::test]
async fn the_api_takes_basic_auth_a_token_or_a_session() {
    let mut client = Client::new(state());
    let get = |auth: Option<String>| {
        let mut r = Request::get("/api/v1/pipelines");
        if let Some(a) = auth {
            r = r.header(header::AUTHORIZATION, a);
        }
        r.body(Body::empty()).expect("request")
    };
    for auth in [Some(basic(USER, PASSWORD)), Some(format!("Bearer {TOKEN}"))] {
        let r = client.send(get(auth.clone())).await;
        assert_eq!(r.status, StatusCode::OK, "{auth:?}: {}", r.body);
        assert_eq!(r.json()["pipelines"][0]["topic"], "users_created");
    }
    let r = client.send(get(None)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    let csrf = client.logged_in().await;
    assert_eq!(client.send(get(None)).await.status, StatusCode::OK);
    // State-changing API calls on a session need the CSRF header.
    let post = |csrf: Option<&str>| {
        let mut r = Request::builder()
            .method(Method::POST)
            .uri("/api/v1/dead-letters/nope/resend")
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(c) = csrf {
            r = r.header("x-csrf-token", c);
        }
        r.body(Body::from(r#"{"partition":0,"offset":0}"#))
            .expect("request")
    };
    assert_eq!(client.send(post(None)).await.status, StatusCode::FORBIDDEN);
    let r = client.send(post(Some(&csrf))).await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "passes auth, no such pipeline: {}",
        r.body
    );
    assert!(r.json()["detail"]
        .as_str()
        .unwrap_or("")
        .contains("pipeline `nope`"));
}

#[tokio::test]
async fn metrics_are_served_behind_api_auth() {
    let metrics = cassflow::stream::metrics::stream_metrics();
    metrics
        .written
        .get_or_create(&cassflow::stream::metrics::PipelineLabel {
            pipeline: "web-metrics-test".into(),
        })
        .inc_by(3);
    let mut client = Client::new(state());
    let r = client.get("/metrics").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = client
        .send(
            Request::get("/metrics")
                .header(header::AUTHORIZATION, basic(USER, PASSWORD))
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body
            .contains("cassflow_records_written_total{pipeline=\"web-metrics-test\"} 3"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn public_routes_need_no_session_and_pages_carry_security_headers() {
    let mut client = Client::new(state());
    for (path, content_type) in [
        ("/static/app.css", "text/css"),
        ("/static/app.js", "text/javascript"),
        ("/static/chart.js", "text/javascript"),
    ] {
        let r = client.get(path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert!(r.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap_or("")
            .starts_with(content_type));
    }
    assert_eq!(
        client.get("/static/nope.js").await.status,
        StatusCode::NOT_FOUND
    );
    let r = client.get("/login").await;
    assert_eq!(r.status, StatusCode::OK);
    let csp = r.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap_or("");
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert_eq!(r.headers[header::X_FRAME_OPTIONS], "DENY");
    // Nothing is listening on the configured ports: health says so, without a session.
    let r = client.get("/health").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    let health = r.json();
    assert_eq!(health["status"], "degraded");
    assert_eq!(health["kafka"]["reachable"], false);
    assert_eq!(health["cassandra"]["reachable"], false);
}

#[tokio::test]
async fn the_server_answers_over_tcp_and_stops_on_cancel() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let cancel = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(cassflow::web::serve_on(listener, state(), cancel.clone()));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = http
        .get(format!("http://{addr}/topics"))
        .send()
        .await
        .expect("GET /topics");
    assert_eq!(r.status(), StatusCode::FOUND);
    let r = http
        .get(format!("http://{addr}/api/v1/pipelines"))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await
        .expect("GET pipelines");
    assert_eq!(r.status(), StatusCode::OK);
    cancel.cancel();
    let ended = tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("the server stops after cancel");
    assert!(matches!(ended, Ok(Ok(()))), "{ended:?}");
}
