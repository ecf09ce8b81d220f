//! The web UI against the real test stack: users produced to a unique topic and streamed
//! into a unique keyspace show on the topic page (partitions, group lag, newest messages)
//! and the table page (rows page by page, row count); bad messages show on the dead-letter
//! page with their reasons and can be re-sent to the source topic.

mod common;
mod web_support;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use cassflow::config::{Config, PipelineConfig};
use cassflow::web::AppState;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::collections::HashSet;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use web_support::{basic, Client, PASSWORD, USER};

/// The stack's config with one pipeline on fresh names, and a client logged in to it.
async fn setup(tag: &str) -> (Config, PipelineConfig, Client) {
    let mut config = web_support::web_config(common::stack().await);
    let pipeline = common::users_pipeline(tag);
    config.pipelines = vec![pipeline.clone()];
    let mut client = Client::new(AppState::new(&config).expect("state"));
    client.logged_in().await;
    (config, pipeline, client)
}

fn spawn_stream(
    config: &Config,
    pipeline: &PipelineConfig,
    shutdown: &CancellationToken,
) -> JoinHandle<()> {
    let (config, pipeline, shutdown) = (config.clone(), pipeline.clone(), shutdown.clone());
    tokio::spawn(async move {
        cassflow::stream::run_pipeline(&config, &pipeline, None, shutdown)
            .await
            .expect("stream job");
    })
}

/// Polls `path` (JSON) until `done` holds for it, for at most `secs` seconds.
async fn wait_json(
    client: &mut Client,
    path: &str,
    secs: u64,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let r = client.get(path).await;
        let json = if r.status == StatusCode::OK {
            r.json()
        } else {
            serde_json::Value::Null
        };
        if done(&json) || tokio::time::Instant::now() > deadline {
            return json;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_and_table_pages_show_the_produced_users() {
    let (config, pipeline, mut client) = setup("webtopic").await;
    let records = common::users(7, "webtopic");
    common::produce(&config, &pipeline.topic, &records).await;
    let shutdown = CancellationToken::new();
    let job = spawn_stream(&config, &pipeline, &shutdown);
    let session = common::session(&config).await;
    let n = common::wait_for_rows(
        &session,
        &pipeline.keyspace,
        &pipeline.table,
        7,
        Duration::from_secs(120),
    )
    .await;
    assert_eq!(n, 7);

    let r = client.get(&format!("/topics?q={}", pipeline.topic)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        r.body
            .contains(&format!("href=\"/topics/{}\"", pipeline.topic)),
        "{}",
        r.body
    );
    assert!(r.body.contains("(source)"));

    let r = client.get(&format!("/topics/{}", pipeline.topic)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        r.body.contains("6 partitions, 7 messages retained"),
        "{}",
        r.body
    );
    for u in &records {
        assert!(
            r.body.contains(&u.id.to_string()),
            "tail shows user {}",
            u.id
        );
    }

    // The stream job's group appears with its lag once it has committed everything.
    let path = format!("/api/v1/topics/{}", pipeline.topic);
    let group = pipeline.group_id();
    let topic = wait_json(&mut client, &path, 60, |j| {
        j["groups"].as_array().is_some_and(|g| {
            g.iter().any(|g| {
                g["group"] == group.as_str()
                    && g["total_lag"] == 0
                    && g["partitions"]
                        .as_array()
                        .is_some_and(|p| p.iter().filter_map(|p| p[1].as_i64()).sum::<i64>() == 7)
            })
        })
    })
    .await;
    assert!(topic["groups"][0]["group"] == group.as_str(), "{topic}");
    let r = client.get(&format!("/topics/{}", pipeline.topic)).await;
    assert!(r.body.contains(&group), "the page lists the group");

    let tail = client
        .get(&format!(
            "/api/v1/topics/{}/messages?limit=3",
            pipeline.topic
        ))
        .await
        .json();
    assert_eq!(tail["messages"].as_array().map(Vec::len), Some(3));

    let r = client.get("/cassandra").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r
        .body
        .contains(&format!("/cassandra/{}/created_users", pipeline.keyspace)));

    let table = format!("/cassandra/{}/{}", pipeline.keyspace, pipeline.table);
    let r = client.get(&table).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    for u in &records {
        assert!(
            r.body.contains(&u.id.to_string()),
            "table page shows user {}",
            u.id
        );
        assert!(r.body.contains(&u.first_name));
    }
    let count = client.get(&format!("/api/v1{table}/count")).await.json();
    assert_eq!(count["count"], 7);

    // Paging with the driver's paging state: pages of 3 cover all 7 rows exactly once.
    let mut ids = HashSet::new();
    let mut next: Option<String> = None;
    let mut pages = 0;
    loop {
        let page_param = next
            .as_ref()
            .map(|p| format!("&page={p}"))
            .unwrap_or_default();
        let page = client
            .get(&format!("/api/v1{table}/rows?size=3{page_param}"))
            .await
            .json();
        for row in page["rows"].as_array().expect("rows") {
            assert!(
                ids.insert(row[0].as_str().expect("id").to_string()),
                "no row twice"
            );
        }
        pages += 1;
        match page["next_page"].as_str() {
            Some(p) => next = Some(p.to_string()),
            None => break,
        }
        assert!(pages < 10, "paging ends");
    }
    assert_eq!(ids.len(), 7);
    assert!(pages >= 3);
    let expected: HashSet<String> = records.iter().map(|r| r.id.to_string()).collect();
    assert_eq!(ids, expected);

    // The HTML pager links to the next page.
    let r = client.get(&format!("{table}?size=3")).await;
    let marker = "id=\"next-page\"";
    assert!(r.body.contains(marker), "{}", r.body);
    let link = r.body[..r.body.find(marker).expect("pager")]
        .rsplit("href=\"")
        .next()
        .expect("href")
        .split('"')
        .next()
        .expect("url")
        .replace("&amp;", "&");
    let second = client.get(&link).await;
    assert_eq!(second.status, StatusCode::OK, "{link}: {}", second.body);
    assert!(second.body.contains("First page"));

    assert_eq!(
        client.get("/cassandra/nope/nope").await.status,
        StatusCode::NOT_FOUND
    );
    shutdown.cancel();
    job.await.expect("job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_show_their_reason_and_can_be_resent() {
    let (config, pipeline, mut client) = setup("webdlq").await;
    let good = common::users(2, "webdlq");
    common::produce(&config, &pipeline.topic, &good).await;
    let producer: FutureProducer = cassflow::kafka::client_config(&config.kafka)
        .create()
        .expect("producer");
    for value in [
        "{not json",
        r#"{"id":"7c1f7a2e-3f43-4a3b-9d7c-0d6a4f1b2c3d"}"#,
    ] {
        producer
            .send(
                FutureRecord::<(), str>::to(&pipeline.topic).payload(value),
                Duration::from_secs(30),
            )
            .await
            .expect("sent");
    }
    let shutdown = CancellationToken::new();
    let job = spawn_stream(&config, &pipeline, &shutdown);
    let path = format!("/api/v1/dead-letters/{}", pipeline.name);
    let letters = wait_json(&mut client, &path, 120, |j| {
        j["messages"].as_array().is_some_and(|m| m.len() == 2)
    })
    .await;
    assert_eq!(
        letters["messages"].as_array().map(Vec::len),
        Some(2),
        "{letters}"
    );

    let r = client.get("/dead-letters").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains(&pipeline.dead_letter_topic()));

    let r = client
        .get(&format!("/dead-letters/{}", pipeline.name))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        r.body.contains("invalid_json") && r.body.contains("missing_field"),
        "{}",
        r.body
    );
    assert!(r.body.contains("{not json"));
    let csrf = r.csrf();

    let bad = letters["messages"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["value"] == "{not json"))
        .expect("the invalid JSON letter");
    let (partition, offset) = (bad["partition"].to_string(), bad["offset"].to_string());
    let r = client
        .post_form(
            &format!("/dead-letters/{}/resend", pipeline.name),
            &[
                ("csrf", &csrf),
                ("partition", &partition),
                ("offset", &offset),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let back = r.location().to_string();
    assert!(
        back.contains(&format!("resent={}", pipeline.topic)),
        "{back}"
    );
    assert!(client.get(&back).await.body.contains("Re-sent to"));

    // The source topic has it again, marked, without the dead-letter headers.
    let source = format!("/api/v1/topics/{}/messages?limit=50", pipeline.topic);
    let from = format!("{}/{partition}/{offset}", pipeline.dead_letter_topic());
    let tail = wait_json(&mut client, &source, 30, |j| {
        j["messages"].as_array().is_some_and(|m| m.len() == 5)
    })
    .await;
    let resent = tail["messages"]
        .as_array()
        .and_then(|m| {
            m.iter().find(|m| {
                m["headers"].as_array().is_some_and(|h| {
                    h.iter()
                        .any(|h| h[0] == "cassflow.resent_from" && h[1] == from.as_str())
                })
            })
        })
        .unwrap_or_else(|| panic!("re-sent message in {tail}"));
    assert_eq!(resent["value"], "{not json");
    assert!(!resent["headers"].to_string().contains("cassflow.reason"));

    // The API re-sends too (basic auth, no CSRF needed).
    let other = letters["messages"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["value"] != "{not json"))
        .expect("the other letter");
    let body = serde_json::json!({ "partition": other["partition"], "offset": other["offset"] });
    let r = client
        .send(
            Request::post(format!("/api/v1/dead-letters/{}/resend", pipeline.name))
                .header(header::AUTHORIZATION, basic(USER, PASSWORD))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .expect("request"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.json()["resent_to"]
        .as_str()
        .is_some_and(|t| t.starts_with(&pipeline.topic)));

    // A position that holds no dead letter is a 404, not a crash.
    let r = client
        .post_form(
            &format!("/dead-letters/{}/resend", pipeline.name),
            &[("csrf", &csrf), ("partition", "0"), ("offset", "999999")],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    shutdown.cancel();
    job.await.expect("job");
}

#[tokio::test]
async fn health_reports_both_servers_reachable() {
    let config = web_support::web_config(common::stack().await);
    let mut client = Client::new(AppState::new(&config).expect("state"));
    let r = client.get("/health").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let health = r.json();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["kafka"]["reachable"], true);
    // Anonymous callers get the status words; the version is for a logged-in user.
    assert!(health["cassandra"].get("version").is_none(), "{health}");
    client.logged_in().await;
    let health = client.get("/health").await.json();
    assert!(health["cassandra"]["version"]
        .as_str()
        .is_some_and(|v| v.starts_with('5')));
}
