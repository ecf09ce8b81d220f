//! Every error of the API is an RFC 9457 problem document (`application/problem+json` with
//! `type`, `title`, `status`, `detail`), whoever produced it: an unknown path, a wrong
//! method, a body that does not parse, missing credentials, a missing CSRF header, a refused
//! host. Pages keep their HTML error page. In-process, no Kafka or Cassandra needed.

mod web_support;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use cassflow::config::Config;
use cassflow::web::AppState;
use web_support::{Client, Resp, TOKEN};

fn client() -> Client {
    let mut config = web_support::web_config(Config::default());
    // Nothing listens on port 1: these tests must not need Kafka or Cassandra.
    config.kafka.bootstrap = "127.0.0.1:1".into();
    config.cassandra.contact_points = "127.0.0.1:1".into();
    Client::new(AppState::new(&config).expect("state"))
}

fn request(method: Method, path: &str, body: Option<&str>) -> axum::http::request::Builder {
    let mut r = Request::builder().method(method).uri(path);
    if body.is_some() {
        r = r.header(header::CONTENT_TYPE, "application/json");
    }
    r
}

fn with_token(r: axum::http::request::Builder) -> axum::http::request::Builder {
    r.header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
}

/// Checks the response is a problem document for `status` and returns its detail.
fn problem(r: &Resp, status: StatusCode) -> String {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(
        r.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "{status}: {}",
        r.body
    );
    let doc = r.json();
    assert_eq!(doc["type"], "about:blank", "{doc}");
    assert_eq!(
        doc["title"],
        status.canonical_reason().unwrap_or_default(),
        "{doc}"
    );
    assert_eq!(doc["status"], status.as_u16(), "{doc}");
    let detail = doc["detail"].as_str().unwrap_or_default().to_string();
    assert!(!detail.is_empty(), "{doc}");
    detail
}

#[tokio::test]
async fn an_unknown_api_path_is_a_problem_naming_the_path() {
    let mut client = client();
    for authed in [false, true] {
        let mut r = request(Method::GET, "/api/v1/nope", None);
        if authed {
            r = with_token(r);
        }
        let r = client.send(r.body(Body::empty()).expect("request")).await;
        let detail = problem(&r, StatusCode::NOT_FOUND);
        assert!(detail.contains("`/api/v1/nope`"), "{detail}");
        assert!(detail.contains("/api/v1/openapi.json"), "{detail}");
    }
    // A page keeps the HTML error page.
    let r = client.get("/nope").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body.contains("<html"), "{}", r.body);
}

#[tokio::test]
async fn a_wrong_method_is_a_problem_naming_the_allowed_ones() {
    let mut client = client();
    let r = with_token(request(Method::DELETE, "/api/v1/pipelines", None))
        .body(Body::empty())
        .expect("request");
    let r = client.send(r).await;
    let detail = problem(&r, StatusCode::METHOD_NOT_ALLOWED);
    assert!(detail.contains("DELETE"), "{detail}");
    assert!(detail.contains("GET"), "{detail}");
}

#[tokio::test]
async fn a_bad_body_is_a_problem_saying_what_is_wrong() {
    let mut client = client();
    for (body, says) in [
        ("{not json", "JSON"),
        (r#"{"is_paused": "yes"}"#, "is_paused"),
    ] {
        let r = with_token(request(
            Method::PATCH,
            "/api/v1/dags/user_automation",
            Some(body),
        ))
        .body(Body::from(body))
        .expect("request");
        let r = client.send(r).await;
        let detail = problem(&r, StatusCode::BAD_REQUEST);
        assert!(detail.contains(says), "{body}: {detail}");
    }
}

#[tokio::test]
async fn auth_failures_are_problems() {
    let mut client = client();
    let r = client
        .send(
            request(Method::GET, "/api/v1/pipelines", None)
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    let detail = problem(&r, StatusCode::UNAUTHORIZED);
    assert!(detail.contains("bearer token"), "{detail}");
    assert!(r.headers.contains_key(header::WWW_AUTHENTICATE));
    // /metrics is an API route too.
    let r = client.get("/metrics").await;
    problem(&r, StatusCode::UNAUTHORIZED);

    // A session's state-changing call without its CSRF header.
    client.logged_in().await;
    let r = client
        .send(
            request(Method::PATCH, "/api/v1/dags/user_automation", Some("{}"))
                .body(Body::from(r#"{"is_paused": true}"#))
                .expect("request"),
        )
        .await;
    let detail = problem(&r, StatusCode::FORBIDDEN);
    assert!(detail.contains("CSRF"), "{detail}");
}

#[tokio::test]
async fn a_refused_host_on_an_api_path_is_a_problem() {
    let mut client = client();
    let r = with_token(request(Method::GET, "/api/v1/pipelines", None))
        .header(header::HOST, "evil.example")
        .body(Body::empty())
        .expect("request");
    let detail = problem(&client.send(r).await, StatusCode::MISDIRECTED_REQUEST);
    assert!(detail.contains("allowed_hosts"), "{detail}");
}

#[tokio::test]
async fn the_openapi_document_lists_the_problem_on_error_responses() {
    let doc = cassflow::web::openapi::document();
    let schema = &doc["components"]["schemas"]["Problem"];
    for field in ["type", "title", "status", "detail"] {
        assert!(schema["properties"][field].is_object(), "{schema}");
    }
    let responses = &doc["paths"]["/api/v1/dags/{dag_id}"]["patch"]["responses"];
    for status in ["400", "401", "403", "404", "405"] {
        assert_eq!(
            responses[status]["content"]["application/problem+json"]["schema"]["$ref"],
            "#/components/schemas/Problem",
            "{status}: {responses}"
        );
    }
}
