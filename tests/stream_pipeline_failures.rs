//! Failures that concern a pipeline, not a record, against the real stack: a table altered
//! while the job runs (a column added is filled from then on, a column dropped stops being
//! written, nothing writable is dead-lettered), and a pipeline that cannot start (shown at
//! once on /health and the Stream page while the other pipeline writes; `cassflow stream`
//! with only that pipeline exits non-zero with one line).

mod common;
mod web_support;

use cassflow::config::{Config, PipelineConfig, RecordFormat};
use cassflow::stream::{self, metrics, status};
use rdkafka::producer::{FutureProducer, FutureRecord};
use scylla::client::session::Session;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use web_support::Client;

/// Produces JSON objects to `topic`; panics unless every one is delivered.
async fn produce_json(config: &Config, topic: &str, values: &[serde_json::Value]) {
    let producer: FutureProducer = cassflow::kafka::client_config(&config.kafka)
        .create()
        .expect("producer");
    for v in values {
        producer
            .send(
                FutureRecord::<str, str>::to(topic).payload(&v.to_string()),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("produced");
    }
}

/// `n` events with fresh ids; every field names its batch.
fn events(n: usize, batch: &str) -> (Vec<uuid::Uuid>, Vec<serde_json::Value>) {
    let ids: Vec<uuid::Uuid> = (0..n).map(|_| uuid::Uuid::new_v4()).collect();
    let values = ids
        .iter()
        .map(|id| {
            serde_json::json!({"id": id.to_string(), "a": batch, "gone": batch, "added": batch})
        })
        .collect();
    (ids, values)
}

/// The `added` column of each row (None where it is null), by id.
async fn added_column(
    session: &Session,
    keyspace: &str,
    ids: &[uuid::Uuid],
) -> Vec<Option<String>> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let (added,): (Option<String>,) = session
            .query_unpaged(
                format!("SELECT added FROM \"{keyspace}\".events WHERE id = ?"),
                (*id,),
            )
            .await
            .expect("select")
            .into_rows_result()
            .expect("rows")
            .single_row()
            .expect("the row exists");
        out.push(added);
    }
    out
}

fn replans(pipeline: &str) -> u64 {
    metrics::stream_metrics()
        .replans
        .get_or_create(&metrics::PipelineLabel {
            pipeline: pipeline.into(),
        })
        .get()
}

/// Waits (at most a minute) until `pipeline` has re-planned `n` times.
async fn wait_for_replans(pipeline: &str, n: u64) -> u64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while replans(pipeline) < n && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    replans(pipeline)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_altered_mid_stream_is_replanned_and_nothing_writable_is_dead_lettered() {
    let config = common::stack().await;
    let session = common::session(&config).await;
    let pipeline = PipelineConfig {
        name: common::unique("altered"),
        topic: common::unique("altered"),
        partitions: 2,
        keyspace: common::unique("ks"),
        table: "events".into(),
        group_id: Some(common::unique("altered-group")),
        format: RecordFormat::Json,
        ..PipelineConfig::default()
    };
    let ks = &pipeline.keyspace;
    cassflow::cassandra::schema::ensure_keyspace(&session, &config.cassandra, ks)
        .await
        .expect("keyspace");
    session
        .query_unpaged(
            format!("CREATE TABLE \"{ks}\".events (id uuid PRIMARY KEY, a text, gone text)"),
            &[],
        )
        .await
        .expect("create table");
    let shutdown = CancellationToken::new();
    let job = common::spawn_pipeline(&config, &pipeline, &shutdown);

    let (_, first) = events(40, "first");
    produce_json(&config, &pipeline.topic, &first).await;
    let rows = common::wait_for_rows(&session, ks, "events", 40, Duration::from_secs(120)).await;
    assert_eq!(rows, 40, "the first batch is written");

    // A column added: Cassandra keeps accepting the old statement, so only watching the
    // schema notices it. Once re-planned, every new record fills it.
    session
        .query_unpaged(format!("ALTER TABLE \"{ks}\".events ADD added text"), &[])
        .await
        .expect("add a column");
    assert_eq!(
        wait_for_replans(&pipeline.name, 1).await,
        1,
        "re-planned after ADD"
    );
    let (second_ids, second) = events(40, "second");
    produce_json(&config, &pipeline.topic, &second).await;
    let rows = common::wait_for_rows(&session, ks, "events", 80, Duration::from_secs(120)).await;
    assert_eq!(rows, 80, "the second batch is written");
    let added = added_column(&session, ks, &second_ids).await;
    assert!(
        added.iter().all(|a| a.as_deref() == Some("second")),
        "the added column is filled: {added:?}"
    );

    // A column dropped: the old statement names it, so writes fail until re-planned; the
    // records that hit it are written with the new plan, not dead-lettered.
    let (third_ids, third) = events(40, "third");
    session
        .query_unpaged(format!("ALTER TABLE \"{ks}\".events DROP gone"), &[])
        .await
        .expect("drop a column");
    produce_json(&config, &pipeline.topic, &third).await;
    let rows = common::wait_for_rows(&session, ks, "events", 120, Duration::from_secs(120)).await;
    assert_eq!(rows, 120, "the third batch is written");
    assert!(replans(&pipeline.name) >= 2, "re-planned after DROP");
    let added = added_column(&session, ks, &third_ids).await;
    assert!(
        added.iter().all(|a| a.as_deref() == Some("third")),
        "{added:?}"
    );

    assert_eq!(
        common::topic_message_count(&config, &pipeline.dead_letter_topic()).await,
        0,
        "nothing that could be written was dead-lettered"
    );
    assert_eq!(
        status::get(&pipeline.name).map(|s| s.state),
        Some(status::State::Running)
    );
    shutdown.cancel();
    let summary = job.await.expect("job");
    assert_eq!((summary.written, summary.dead_lettered), (120, 0));
}

/// A JSON pipeline on a table that does not exist.
fn missing_table_pipeline() -> PipelineConfig {
    PipelineConfig {
        name: common::unique("missing"),
        topic: common::unique("missing"),
        partitions: 1,
        keyspace: common::unique("ks"),
        table: "nowhere".into(),
        group_id: Some(common::unique("missing-group")),
        format: RecordFormat::Json,
        ..PipelineConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_that_cannot_start_is_shown_at_once_and_the_other_keeps_writing() {
    let mut config = web_support::web_config(common::stack().await);
    let good = common::users_pipeline("goodpipe");
    let bad = missing_table_pipeline();
    config.pipelines = vec![good.clone(), bad.clone()];
    let mut client = Client::new(cassflow::web::AppState::new(&config).expect("state"));
    let shutdown = CancellationToken::new();
    let job = {
        let (config, shutdown) = (config.clone(), shutdown.clone());
        tokio::spawn(async move { stream::run(&config, None, shutdown).await })
    };

    // Shown while the job runs, not at shutdown.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let health = loop {
        let r = client.get("/health").await;
        let json = r.json();
        if json["pipelines"][&bad.name]["state"] == "failed"
            || tokio::time::Instant::now() > deadline
        {
            break (r.status, json);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(
        health.1["pipelines"][&bad.name]["state"], "failed",
        "{}",
        health.1
    );
    assert_eq!(health.1["status"], "degraded", "{}", health.1);
    assert_eq!(health.0, axum::http::StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        !health.1.to_string().contains("does not exist"),
        "no error text for anonymous callers: {}",
        health.1
    );

    let records = common::users(30, "goodpipe");
    common::produce(&config, &good.topic, &records).await;
    let session = common::session(&config).await;
    common::assert_table_holds(&session, &good, &records).await;
    assert_eq!(
        status::get(&good.name).map(|s| s.state),
        Some(status::State::Running)
    );

    client.logged_in().await;
    let page = client.get("/stream").await;
    assert!(
        page.body.contains("cannot start") && page.body.contains("does not exist"),
        "the Stream page says why: {}",
        page.body
    );
    let text = metrics::encode();
    let failed = format!(
        "cassflow_pipeline_state{{pipeline=\"{}\",state=\"failed\"}} 1",
        bad.name
    );
    assert!(text.contains(&failed), "{text}");

    shutdown.cancel();
    let summaries = job.await.expect("job").expect("one pipeline ran");
    let by_name = |n: &str| summaries.iter().find(|s| s.pipeline == n).expect("summary");
    assert_eq!(by_name(&good.name).written, 30);
    assert!(by_name(&good.name).failed.is_none());
    assert!(by_name(&bad.name).failed.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cassflow_stream_exits_non_zero_with_one_line_when_no_pipeline_can_start() {
    let config = common::stack().await;
    let bad = missing_table_pipeline();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = common::write_config(dir.path(), &config, std::slice::from_ref(&bad));
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(common::cassflow_bin())
            .arg("--config")
            .arg(&file)
            .args(["--log-level", "off", "stream"])
            .env_remove("RUST_LOG")
            .current_dir(dir.path())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("exits by itself, without a stop signal")
    .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(
        lines[0].starts_with("error: pipeline `")
            && lines[0].contains(&bad.name)
            && lines[0].contains("does not exist")
            && lines[0].contains("fix:")
            && lines[0].contains("create_table"),
        "{stderr}"
    );
}
