//! Dead letters that Kafka would refuse never stall their partition: on the real stack, a
//! 3 MB value the source topic took lz4-compressed reaches the dead-letter topic whole; a
//! letter too large for an existing, smaller dead-letter topic goes out truncated with
//! headers that say so and where the original lies; and a letter that fits in no way stops
//! the pipeline with the reason instead of retrying silently. Each time the records after
//! the refused one are written.

mod common;

use cassflow::config::{Config, PipelineConfig};
use cassflow::kafka::admin;
use cassflow::stream::dead_letter::header;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A users pipeline on one partition, so "after" means a later offset of the same partition.
fn one_partition_pipeline(tag: &str) -> PipelineConfig {
    PipelineConfig {
        partitions: 1,
        ..common::users_pipeline(tag)
    }
}

/// Produces `(value, headers)` in order to `topic` with lz4 and room for large values.
async fn produce_raw(config: &Config, topic: &str, messages: &[(Vec<u8>, OwnedHeaders)]) {
    let producer: FutureProducer = cassflow::kafka::client_config(&config.kafka)
        .set("compression.type", "lz4")
        .set("message.max.bytes", "8388608")
        .create()
        .expect("producer");
    for (value, headers) in messages {
        producer
            .send(
                FutureRecord::<str, [u8]>::to(topic)
                    .key("k")
                    .payload(value)
                    .headers(headers.clone()),
                Duration::from_secs(30),
            )
            .await
            .expect("the source topic takes it");
    }
}

/// The group's committed offset of partition 0.
async fn committed(config: &Config, pipeline: &PipelineConfig) -> Option<i64> {
    let consumer: BaseConsumer = cassflow::kafka::client_config(&config.kafka)
        .set("group.id", pipeline.group_id())
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(&pipeline.topic, 0);
    tokio::task::spawn_blocking(move || {
        let got = consumer
            .committed_offsets(tpl, Duration::from_secs(10))
            .expect("committed offsets");
        match got.elements().first().map(|e| e.offset()) {
            Some(Offset::Offset(o)) => Some(o),
            _ => None,
        }
    })
    .await
    .expect("committed task")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compressible_3_mb_value_reaches_the_dead_letter_topic_and_its_partition_moves_on() {
    let config = common::stack().await;
    let pipeline = one_partition_pipeline("dlq3mb");
    // A source topic that takes large messages: 3 MB of lz4-compressed text fits easily.
    let created = admin::ensure_topic_with(
        &config.kafka,
        &pipeline.topic,
        1,
        1,
        &[("max.message.bytes", "8388608")],
    )
    .await
    .expect("source topic");
    assert!(created);
    let good = common::users(2, "dlq3mb");
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(3 << 20)).into_bytes();
    produce_raw(
        &config,
        &pipeline.topic,
        &[
            (good[0].to_json().into_bytes(), OwnedHeaders::new()),
            (big.clone(), OwnedHeaders::new()),
            (good[1].to_json().into_bytes(), OwnedHeaders::new()),
        ],
    )
    .await;

    let summary = common::stream_until_table_holds(&config, &pipeline, &good).await;
    let letter = common::read_topic(&config, &pipeline.dead_letter_topic(), 1)
        .await
        .remove(0);
    assert_eq!(
        common::header_text(&letter, header::REASON).as_deref(),
        Some("oversized")
    );
    assert_eq!(
        common::header_text(&letter, header::SOURCE_OFFSET).as_deref(),
        Some("1")
    );
    assert_eq!(letter.payload(), Some(&big[..]), "sent whole, untouched");
    assert_eq!(common::header_text(&letter, header::TRUNCATED), None);
    assert_eq!((summary.written, summary.dead_lettered), (2, 1));
    assert_eq!(summary.abandoned, 0);
    assert_eq!(
        committed(&config, &pipeline).await,
        Some(3),
        "the partition moved past it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_letter_too_large_for_the_dead_letter_topic_is_sent_truncated_with_where_it_lies() {
    let config = common::stack().await;
    let pipeline = one_partition_pipeline("dlqcut");
    // A dead-letter topic made beforehand (by hand, or by an older cassflow) with a small limit.
    admin::ensure_topic_with(
        &config.kafka,
        &pipeline.dead_letter_topic(),
        1,
        1,
        &[("max.message.bytes", "200000")],
    )
    .await
    .expect("dead-letter topic");
    admin::ensure_topic(&config.kafka, &pipeline.topic, 1, 1)
        .await
        .expect("source topic");
    // 600 kB that lz4 cannot shrink and that is not UTF-8: a bad record too large to forward.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let noise: Vec<u8> = (0..600_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8 | 0x80
        })
        .collect();
    let good = common::users(1, "dlqcut");
    let traced = OwnedHeaders::new().insert(Header {
        key: "trace-id",
        value: Some("abc123"),
    });
    produce_raw(
        &config,
        &pipeline.topic,
        &[
            (noise.clone(), traced),
            (good[0].to_json().into_bytes(), OwnedHeaders::new()),
        ],
    )
    .await;

    let summary = common::stream_until_table_holds(&config, &pipeline, &good).await;
    let letter = common::read_topic(&config, &pipeline.dead_letter_topic(), 1)
        .await
        .remove(0);
    assert_eq!(
        common::header_text(&letter, header::TRUNCATED).as_deref(),
        Some("600000")
    );
    assert_eq!(
        common::header_text(&letter, header::SOURCE_TOPIC),
        Some(pipeline.topic.clone())
    );
    assert_eq!(
        common::header_text(&letter, header::SOURCE_PARTITION).as_deref(),
        Some("0")
    );
    assert_eq!(
        common::header_text(&letter, header::SOURCE_OFFSET).as_deref(),
        Some("0")
    );
    assert_eq!(
        common::header_text(&letter, header::REASON).as_deref(),
        Some("invalid_utf8")
    );
    assert_eq!(
        common::header_text(&letter, "trace-id").as_deref(),
        Some("abc123")
    );
    let cut = letter.payload().expect("a value");
    assert!(
        cut.len() < 200_000 && !cut.is_empty(),
        "{} bytes",
        cut.len()
    );
    assert_eq!(cut, &noise[..cut.len()], "the start of the original value");
    assert_eq!((summary.written, summary.dead_lettered), (1, 1));
    assert_eq!(
        committed(&config, &pipeline).await,
        Some(2),
        "the partition moved past it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_letter_that_fits_in_no_way_stops_the_pipeline_with_the_reason() {
    let config = common::stack().await;
    let pipeline = one_partition_pipeline("dlqstop");
    // Smaller than cassflow's own headers: no dead letter can ever fit.
    admin::ensure_topic_with(
        &config.kafka,
        &pipeline.dead_letter_topic(),
        1,
        1,
        &[("max.message.bytes", "100")],
    )
    .await
    .expect("dead-letter topic");
    admin::ensure_topic(&config.kafka, &pipeline.topic, 1, 1)
        .await
        .expect("source topic");
    produce_raw(
        &config,
        &pipeline.topic,
        &[(b"{not json".to_vec(), OwnedHeaders::new())],
    )
    .await;

    let (config2, pipeline2) = (config.clone(), pipeline.clone());
    let job = tokio::spawn(async move {
        cassflow::stream::run_pipeline(&config2, &pipeline2, None, CancellationToken::new()).await
    });
    let result = tokio::time::timeout(Duration::from_secs(180), job)
        .await
        .expect("the pipeline stops by itself instead of retrying forever")
        .expect("job");
    let error = result.expect_err("the pipeline fails").to_string();
    assert!(
        error.contains(&pipeline.dead_letter_topic())
            && error.contains(&format!("{}/0/0", pipeline.topic))
            && error.contains("max.message.bytes"),
        "{error}"
    );
    // Nothing committed, or offset 0 (the job commits where an assignment starts): either
    // way the record is read again.
    assert_eq!(
        committed(&config, &pipeline).await.unwrap_or(0),
        0,
        "the record is read again"
    );
}
