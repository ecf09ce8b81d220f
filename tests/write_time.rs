//! Write time on the real stack: a row's `WRITETIME` is its record's Kafka timestamp. A
//! record stamped in 2100 (a skewed producer clock) would freeze its row, so it is
//! dead-lettered with reason `timestamp_in_future`, or written at the current time with
//! `stream.future_timestamp = "clamp"`. A dead letter re-sent through the web API keeps its
//! original timestamp, so an old record re-sent late does not overwrite newer data.

mod common;
mod web_support;

use axum::body::Body;
use axum::http::{header as http, Request, StatusCode};
use cassflow::config::{Config, FutureTimestamp, PipelineConfig};
use cassflow::record::UserRecord;
use cassflow::stream::dead_letter::header;
use cassflow::web::AppState;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use web_support::{basic, Client, PASSWORD, USER};

const YEAR_2100_MS: i64 = 4_102_444_800_000;

/// Produces each record as JSON with the given Kafka timestamp (None: the producer's now).
async fn produce_at(config: &Config, topic: &str, records: &[(&UserRecord, Option<i64>)]) {
    cassflow::kafka::admin::ensure_topic(&config.kafka, topic, 1, 1)
        .await
        .expect("topic");
    let producer: FutureProducer = cassflow::kafka::client_config(&config.kafka)
        .create()
        .expect("producer");
    for (record, timestamp) in records {
        let value = record.to_json();
        let key = record.id.to_string();
        let mut message = FutureRecord::to(topic).key(&key).payload(&value);
        if let Some(t) = timestamp {
            message = message.timestamp(*t);
        }
        producer
            .send(message, Duration::from_secs(30))
            .await
            .expect("sent");
    }
}

/// `first_name` and `WRITETIME(first_name)` of the row `id`.
async fn first_name_and_write_time(
    session: &scylla::client::session::Session,
    pipeline: &PipelineConfig,
    id: uuid::Uuid,
) -> (String, i64) {
    let cql = format!(
        "SELECT first_name, WRITETIME(first_name) FROM \"{}\".\"{}\" WHERE id = ?",
        pipeline.keyspace, pipeline.table
    );
    session
        .query_unpaged(cql, (id,))
        .await
        .expect("select")
        .into_rows_result()
        .expect("rows")
        .single_row::<(String, i64)>()
        .expect("one row")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_stamped_in_2100_is_dead_lettered_as_timestamp_in_future() {
    let config = common::stack().await;
    let pipeline = PipelineConfig {
        partitions: 1,
        ..common::users_pipeline("future")
    };
    let users = common::users(2, "future");
    produce_at(
        &config,
        &pipeline.topic,
        &[(&users[0], Some(YEAR_2100_MS)), (&users[1], None)],
    )
    .await;
    let summary = common::stream_until_table_holds(&config, &pipeline, &users[1..]).await;
    let letters = common::read_topic(&config, &pipeline.dead_letter_topic(), 1).await;
    assert_eq!(
        common::header_text(&letters[0], header::REASON).as_deref(),
        Some("timestamp_in_future")
    );
    let error = common::header_text(&letters[0], header::ERROR).unwrap_or_default();
    assert!(
        error.contains("2100-01-01") && error.contains("clamp"),
        "{error}"
    );
    assert_eq!(
        common::header_text(&letters[0], header::SOURCE_TIMESTAMP),
        Some(YEAR_2100_MS.to_string())
    );
    assert_eq!((summary.written, summary.dead_lettered), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_clamp_a_record_stamped_in_2100_is_written_at_the_current_time() {
    let mut config = common::stack().await;
    config.stream.future_timestamp = FutureTimestamp::Clamp;
    let pipeline = PipelineConfig {
        partitions: 1,
        ..common::users_pipeline("clamp")
    };
    let users = common::users(1, "clamp");
    let before = chrono::Utc::now().timestamp_micros();
    produce_at(&config, &pipeline.topic, &[(&users[0], Some(YEAR_2100_MS))]).await;
    let summary = common::stream_until_table_holds(&config, &pipeline, &users).await;
    let after = chrono::Utc::now().timestamp_micros();
    let session = common::session(&config).await;
    let (_, written_at) = first_name_and_write_time(&session, &pipeline, users[0].id).await;
    assert!(
        (before..=after).contains(&written_at),
        "WRITETIME {written_at} is not between {before} and {after} (2100 is {})",
        YEAR_2100_MS * 1000
    );
    assert_eq!((summary.written, summary.dead_lettered), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_re_sent_dead_letter_keeps_its_timestamp_and_does_not_overwrite_newer_data() {
    let shared = web_support::web_config(common::stack().await);
    let pipeline = PipelineConfig {
        partitions: 1,
        ..common::users_pipeline("resendts")
    };
    let id = uuid::Uuid::new_v4();
    let version = |name: &str| UserRecord {
        id,
        first_name: name.into(),
        ..common::users(1, "resendts").remove(0)
    };
    let (old, new) = (version("Old"), version("New"));
    let old_ms = chrono::Utc::now().timestamp_millis() - 3_600_000;

    // 1. The old version is dead-lettered (here: every value is "oversized").
    let mut refusing = shared.clone();
    refusing.stream.max_message_bytes = 10;
    produce_at(&refusing, &pipeline.topic, &[(&old, Some(old_ms))]).await;
    let shutdown = CancellationToken::new();
    let job = common::spawn_pipeline(&refusing, &pipeline, &shutdown);
    let letters = common::read_topic(&shared, &pipeline.dead_letter_topic(), 1).await;
    shutdown.cancel();
    let summary = job.await.expect("job");
    assert_eq!(summary.dead_lettered, 1);

    // 2. The new version arrives and is written.
    produce_at(&shared, &pipeline.topic, &[(&new, None)]).await;
    let summary =
        common::stream_until_table_holds(&shared, &pipeline, std::slice::from_ref(&new)).await;
    assert_eq!(summary.written, 1);
    let session = common::session(&shared).await;
    let (name, new_written_at) = first_name_and_write_time(&session, &pipeline, id).await;
    assert_eq!(name, "New");

    // 3. The old version is re-sent from the dead-letter page's API.
    let mut config = shared.clone();
    config.pipelines = vec![pipeline.clone()];
    let mut client = Client::new(AppState::new(&config).expect("state"));
    let body =
        serde_json::json!({ "partition": letters[0].partition(), "offset": letters[0].offset() });
    let r = client
        .send(
            Request::post(format!("/api/v1/dead-letters/{}/resend", pipeline.name))
                .header(http::AUTHORIZATION, basic(USER, PASSWORD))
                .header(http::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .expect("request"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let source = common::read_topic(&shared, &pipeline.topic, 3).await;
    let resent = &source[2];
    assert!(common::header_text(resent, "cassflow.resent_from").is_some());
    assert_eq!(
        resent.timestamp().to_millis(),
        Some(old_ms),
        "the re-sent message carries the original timestamp"
    );

    // 4. The stream writes it with its own (older) time: the newer row stays.
    let marker = common::users(1, "resendts-marker");
    produce_at(&shared, &pipeline.topic, &[(&marker[0], None)]).await;
    let shutdown = CancellationToken::new();
    let job = common::spawn_pipeline(&shared, &pipeline, &shutdown);
    common::wait_for_rows(
        &session,
        &pipeline.keyspace,
        &pipeline.table,
        2,
        Duration::from_secs(120),
    )
    .await;
    shutdown.cancel();
    let summary = job.await.expect("job");
    assert_eq!(summary.written, 2, "the re-sent record and the marker");
    let (name, written_at) = first_name_and_write_time(&session, &pipeline, id).await;
    assert_eq!(
        name, "New",
        "the older re-sent record did not overwrite the newer row"
    );
    assert_eq!(written_at, new_written_at);
}
