//! Records in the Confluent wire format through the real registry of the test stack
//! (Apicurio, spoken to only through its Confluent-compatible API): users records
//! produced as Avro and as JSON Schema stream into the users table field for field, and
//! messages that are not in the wire format, or name a schema the registry does not hold,
//! or end early, are dead-lettered with their reasons while the good ones are written.

mod common;

use cassflow::config::{Config, PipelineConfig, RecordFormat};
use cassflow::produce::producer::RecordProducer;
use cassflow::record::UserRecord;
use cassflow::registry::users::{ProducedFormat, UsersEncoder};
use cassflow::registry::{wire, Registry};
use cassflow::stream::dead_letter::header;
use std::time::Duration;

/// A pipeline of `format` into a users table of its own, created here (a registry format
/// gets no table by itself).
async fn pipeline(config: &Config, tag: &str, format: RecordFormat) -> PipelineConfig {
    let pipeline = PipelineConfig {
        format,
        partitions: 2,
        ..common::users_pipeline(tag)
    };
    let session = common::session(config).await;
    cassflow::cassandra::schema::ensure_keyspace(&session, &config.cassandra, &pipeline.keyspace)
        .await
        .expect("keyspace");
    cassflow::cassandra::schema::ensure_users_table(&session, &pipeline.keyspace, &pipeline.table)
        .await
        .expect("table");
    pipeline
}

/// Sends `records` in `format` (registering the users schema under `<topic>-value`), then
/// `extra` raw payloads keyed `bad-<i>`; returns the schema id.
async fn produce(
    config: &Config,
    topic: &str,
    format: ProducedFormat,
    records: &[UserRecord],
    extra: &[Vec<u8>],
) -> u32 {
    cassflow::kafka::admin::ensure_topic(&config.kafka, topic, 2, 1)
        .await
        .expect("topic");
    let registry = Registry::new(&config.schema_registry).expect("registry client");
    let encoder = UsersEncoder::register(&registry, &format!("{topic}-value"), format)
        .await
        .expect("the users schema registers");
    let id = encoder.id();
    let mut producer = RecordProducer::new(&config.kafka, &config.producer, topic)
        .expect("producer")
        .with_encoder(encoder);
    for r in records {
        producer.send(r).await.expect("queued");
    }
    for (i, payload) in extra.iter().enumerate() {
        let key = format!("bad-{i}");
        producer
            .send_bytes(Some(key.as_bytes()), payload, None)
            .await
            .expect("queued");
    }
    assert_eq!(
        producer.flush(Duration::from_secs(60)).await,
        0,
        "all delivered"
    );
    assert_eq!(producer.counts().failed(), 0);
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_users_stream_field_for_field_and_broken_messages_are_dead_lettered() {
    let config = common::stack().await;
    let pipeline = pipeline(&config, "avro_users", RecordFormat::Avro).await;
    let records = common::users(300, "avro");
    // Built after the schema id is known: a good record cut short, and an unknown id.
    let topic = pipeline.topic.clone();
    let id = produce(&config, &topic, ProducedFormat::Avro, &records[..1], &[]).await;
    let mut truncated = Vec::new();
    UsersEncoder::new(id, ProducedFormat::Avro)
        .expect("encoder")
        .encode(&records[0], &mut truncated)
        .expect("encodes");
    truncated.truncate(truncated.len() - 10);
    let mut unknown = wire::header(999_999);
    unknown.extend_from_slice(&[2, b'x']);
    let bad = vec![
        br#"{"id": "plain JSON"}"#.to_vec(),
        unknown,
        truncated,
        vec![0, 0, 1],
    ];
    produce(&config, &topic, ProducedFormat::Avro, &records[1..], &bad).await;

    let summary = common::stream_until_table_holds(&config, &pipeline, &records).await;
    assert_eq!(summary.written, 300, "{summary:?}");

    let letters = common::read_topic(&config, &pipeline.dead_letter_topic(), bad.len()).await;
    let mut reasons: Vec<(String, String, String)> = letters
        .iter()
        .map(|m| {
            use rdkafka::message::Message;
            (
                String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                common::header_text(m, header::REASON).unwrap_or_default(),
                common::header_text(m, header::ERROR).unwrap_or_default(),
            )
        })
        .collect();
    reasons.sort();
    println!("{reasons:#?}");
    let want = [
        ("bad-0", "bad_magic_byte", "magic byte 0"),
        ("bad-1", "unknown_schema", "no schema with id 999999"),
        ("bad-2", "undecodable", "ends inside"),
        (
            "bad-3",
            "truncated",
            "shorter than the wire format's 5-byte header",
        ),
    ];
    for ((key, reason, error), (want_key, want_reason, want_error)) in reasons.iter().zip(want) {
        assert_eq!((key.as_str(), reason.as_str()), (want_key, want_reason));
        assert!(error.contains(want_error), "{key}: {error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_schema_users_stream_field_for_field() {
    let config = common::stack().await;
    let pipeline = pipeline(&config, "jsonschema_users", RecordFormat::JsonSchema).await;
    let records = common::users(200, "jsonschema");
    produce(
        &config,
        &pipeline.topic,
        ProducedFormat::JsonSchema,
        &records,
        &[],
    )
    .await;
    let summary = common::stream_until_table_holds(&config, &pipeline, &records).await;
    assert_eq!(summary.written, 200, "{summary:?}");
    assert_eq!(summary.dead_lettered, 0, "{summary:?}");
}
