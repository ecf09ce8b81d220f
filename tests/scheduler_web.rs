//! The DAG pages and the scheduler's REST API in-process (no server, no Kafka or Cassandra:
//! the DAG runs `shell` tasks): list, trigger with conf, grid states, try logs, pause, and
//! the Airflow-style JSON routes with their errors.

mod web_support;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use cassflow::config::{Config, SchedulerConfig};
use cassflow::scheduler::clock::SystemClock;
use cassflow::scheduler::live::LiveEnv;
use cassflow::scheduler::Scheduler;
use cassflow::web::AppState;
use std::sync::Arc;
use web_support::{basic, Client, PASSWORD, USER};

const HELLO: &str = r#"
description = "says hello"
[params]
who = "world"
[tasks.greet]
kind = "shell"
command = "echo \"hi from $CASSFLOW_DAG_ID to $CASSFLOW_CONF\""
[tasks.after]
kind = "shell"
command = "true"
upstream = ["greet"]
"#;

fn config() -> Config {
    let mut config = web_support::web_config(Config::default());
    config.kafka.bootstrap = "127.0.0.1:1".into();
    config.cassandra.contact_points = "127.0.0.1:1".into();
    config
}

fn setup() -> (Client, Scheduler, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let dags = dir.path().join("dags");
    std::fs::create_dir_all(&dags).expect("dags");
    std::fs::write(dags.join("hello.toml"), HELLO).expect("dag file");
    let scheduler = Scheduler::open(
        &SchedulerConfig {
            dags_dir: dags,
            ..SchedulerConfig::default()
        },
        dir.path().join("db.sqlite"),
        Arc::new(SystemClock),
        Arc::new(LiveEnv::new(config())),
    )
    .expect("scheduler");
    scheduler
        .set_paused("user_automation", true)
        .expect("pause the built-in DAG");
    let state = AppState::new(&config())
        .expect("state")
        .with_scheduler(scheduler.clone());
    (Client::new(state), scheduler, dir)
}

async fn api(
    client: &mut Client,
    method: Method,
    path: &str,
    body: Option<&str>,
) -> web_support::Resp {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, basic(USER, PASSWORD))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.map_or(Body::empty(), |b| Body::from(b.to_string())))
        .expect("request");
    client.send(request).await
}

#[tokio::test]
async fn pages_list_trigger_grid_log_and_pause() {
    let (mut client, scheduler, _dir) = setup();
    let csrf = client.logged_in().await;

    let list = client.get("/dags").await;
    assert_eq!(list.status, StatusCode::OK);
    for needle in [
        "id=\"trigger-hello\"",
        "id=\"pause-hello\"",
        "user_automation",
        "@daily",
        "says hello",
    ] {
        assert!(list.body.contains(needle), "{needle} in {}", list.body);
    }

    let r = client
        .post_form(
            "/dags/hello/trigger",
            &[("csrf", &csrf), ("conf", r#"{"who": "you"}"#)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(
        r.location().starts_with("/dags/hello?triggered=manual__"),
        "{}",
        r.location()
    );
    scheduler.settle().await.expect("run");

    let page = client.get("/dags/hello").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        page.body.matches("data-state=\"success\"").count(),
        3,
        "2 task cells + the run row: {}",
        page.body
    );
    let run = scheduler.runs("hello", 1).expect("runs").remove(0);
    assert!(page.body.contains(&run.run_id));

    let log_path = format!(
        "/dags/hello/runs/{}/tasks/greet?try=1",
        cassflow::web::error::urlencode(&run.run_id)
    );
    let log = client.get(&log_path).await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.body);
    assert!(
        log.body
            .contains("hi from hello to {&quot;who&quot;:&quot;you&quot;}"),
        "{}",
        log.body
    );

    let bad = client
        .post_form("/dags/hello/trigger", &[("csrf", &csrf), ("conf", "{nope")])
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("id=\"trigger-error\""), "{}", bad.body);
    // A parameter the DAG does not take, or of the wrong type: the form says which.
    for (conf, needle) in [(r#"{"whom": "x"}"#, "`whom`"), (r#"{"who": 5}"#, "`who`")] {
        let refused = client
            .post_form("/dags/hello/trigger", &[("csrf", &csrf), ("conf", conf)])
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{conf}");
        assert!(
            refused.body.contains("id=\"trigger-error\""),
            "{}",
            refused.body
        );
        assert!(refused.body.contains(needle), "{needle}: {}", refused.body);
        assert!(refused.body.contains("who (a string)"), "{}", refused.body);
    }
    assert_eq!(scheduler.runs("hello", 10).expect("runs").len(), 1);
    let no_csrf = client
        .post_form("/dags/hello/pause", &[("paused", "true")])
        .await;
    assert_ne!(no_csrf.status, StatusCode::SEE_OTHER, "CSRF is checked");
    assert!(!scheduler.dag("hello").expect("dag").summary.is_paused);

    let r = client
        .post_form(
            "/dags/hello/pause",
            &[
                ("csrf", &csrf),
                ("paused", "true"),
                ("next", "https://evil.example/"),
            ],
        )
        .await;
    assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/dags"));
    assert!(scheduler.dag("hello").expect("dag").summary.is_paused);
    let list = client.get("/dags").await;
    assert!(
        list.body.contains("id=\"dag-hello\" data-paused=\"true\""),
        "{}",
        list.body
    );
}

#[tokio::test]
async fn rest_api_like_airflows() {
    let (mut client, scheduler, _dir) = setup();
    let r = api(&mut client, Method::GET, "/api/v1/dags", None).await;
    assert_eq!(r.status, StatusCode::OK);
    let ids: Vec<String> = r.json()["dags"]
        .as_array()
        .expect("dags")
        .iter()
        .map(|d| d["dag_id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(ids, ["hello", "user_automation"]);

    let r = api(
        &mut client,
        Method::POST,
        "/api/v1/dags/hello/dagRuns",
        Some(r#"{"conf": {"n": 1}}"#),
    )
    .await;
    // `hello` declares only `who`: an unknown key is refused at the door, naming it.
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let error = r.json()["detail"].as_str().unwrap_or_default().to_string();
    assert!(
        error.contains("`n`") && error.contains("who (a string)"),
        "{error}"
    );
    let r = api(
        &mut client,
        Method::POST,
        "/api/v1/dags/hello/dagRuns",
        Some(r#"{"conf": {"who": 1}}"#),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("`who`"), "{}", r.body);
    assert!(scheduler.runs("hello", 10).expect("runs").is_empty());

    let r = api(
        &mut client,
        Method::POST,
        "/api/v1/dags/hello/dagRuns",
        Some(r#"{"conf": {"who": "api"}}"#),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let run = r.json();
    assert_eq!(run["state"], "queued");
    assert_eq!(run["conf"], serde_json::json!({"who": "api"}));
    let run_id = run["dag_run_id"].as_str().expect("dag_run_id").to_string();
    scheduler.settle().await.expect("run");

    let encoded = cassflow::web::error::urlencode(&run_id);
    let r = api(
        &mut client,
        Method::GET,
        &format!("/api/v1/dags/hello/dagRuns/{encoded}"),
        None,
    )
    .await;
    assert_eq!(r.json()["state"], "success", "{}", r.body);
    let r = api(
        &mut client,
        Method::GET,
        &format!("/api/v1/dags/hello/dagRuns/{encoded}/taskInstances"),
        None,
    )
    .await;
    let tis = r.json();
    assert_eq!(tis["total_entries"], 2);
    assert_eq!(tis["task_instances"][0]["task_id"], "greet");
    assert_eq!(tis["task_instances"][0]["state"], "success");
    assert_eq!(tis["task_instances"][0]["try_number"], 1);
    let r = api(
        &mut client,
        Method::GET,
        &format!("/api/v1/dags/hello/dagRuns/{encoded}/taskInstances/greet/logs/1"),
        None,
    )
    .await;
    assert!(
        r.json()["content"]
            .as_str()
            .unwrap_or_default()
            .contains(r#"hi from hello to {"who":"api"}"#),
        "{}",
        r.body
    );
    let r = api(
        &mut client,
        Method::GET,
        "/api/v1/dags/hello/dagRuns?limit=5",
        None,
    )
    .await;
    assert_eq!(r.json()["dag_runs"][0]["dag_run_id"], run_id.as_str());

    let r = api(
        &mut client,
        Method::PATCH,
        "/api/v1/dags/hello",
        Some(r#"{"is_paused": true}"#),
    )
    .await;
    assert_eq!(r.json()["is_paused"], true, "{}", r.body);
    assert!(scheduler.dag("hello").expect("dag").summary.is_paused);

    for (method, path, body, status) in [
        (
            Method::GET,
            "/api/v1/dags/nope",
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            "/api/v1/dags/nope/dagRuns",
            Some("{}"),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            "/api/v1/dags/hello/dagRuns",
            Some(r#"{"conf": [1]}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/api/v1/dags/hello/dagRuns",
            Some("{nope"),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PATCH,
            "/api/v1/dags/hello",
            Some(r#"{"paused": true}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            "/api/v1/dags/hello/dagRuns/none/taskInstances",
            None,
            StatusCode::NOT_FOUND,
        ),
    ] {
        let r = api(&mut client, method.clone(), path, body).await;
        assert_eq!(r.status, status, "{method} {path}: {}", r.body);
        assert!(r.json()["detail"].is_string(), "{}", r.body);
    }
}

#[tokio::test]
async fn without_a_scheduler_the_dag_routes_say_so() {
    let mut client = Client::new(AppState::new(&config()).expect("state"));
    let r = api(&mut client, Method::GET, "/api/v1/dags", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(
        r.json()["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("cassflow up"),
        "{}",
        r.body
    );
}
