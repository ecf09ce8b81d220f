//! Dead letters: a message that cannot become a row goes, untouched, to the pipeline's
//! dead-letter topic with the original key, value and headers, plus headers saying why and
//! where it came from. Sending is retried until Kafka takes it: a dead letter is never lost.

use crate::config::KafkaConfig;
use crate::kafka::{client_config, KafkaError};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::time::Duration;

/// Header names written on every dead letter.
pub mod header {
    pub const REASON: &str = "cassflow.reason";
    pub const ERROR: &str = "cassflow.error";
    pub const SOURCE_TOPIC: &str = "cassflow.source.topic";
    pub const SOURCE_PARTITION: &str = "cassflow.source.partition";
    pub const SOURCE_OFFSET: &str = "cassflow.source.offset";
    pub const SOURCE_TIMESTAMP: &str = "cassflow.source.timestamp";
    pub const DEAD_LETTERED_AT: &str = "cassflow.dead_lettered_at";
}

/// Dead letters may be larger than ordinary messages (a near-limit value plus headers).
pub const MAX_DEAD_LETTER_BYTES: usize = 8 << 20;

pub struct DeadLetterQueue {
    producer: FutureProducer,
    topic: String,
}

impl DeadLetterQueue {
    pub fn new(kafka: &KafkaConfig, topic: &str) -> Result<Self, KafkaError> {
        let producer = client_config(kafka)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.max.bytes", MAX_DEAD_LETTER_BYTES.to_string())
            .set("linger.ms", "5")
            .create()
            .map_err(|source| KafkaError::Client {
                bootstrap: kafka.bootstrap.clone(),
                source,
            })?;
        Ok(DeadLetterQueue {
            producer,
            topic: topic.to_string(),
        })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Sends one dead letter for `message`; returns the error of this attempt.
    pub async fn send(
        &self,
        message: &OwnedMessage,
        reason: &str,
        error: &str,
    ) -> Result<(), String> {
        let headers = dead_letter_headers(message, reason, error);
        let mut record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(&self.topic).headers(headers);
        if let Some(k) = message.key() {
            record = record.key(k);
        }
        if let Some(v) = message.payload() {
            record = record.payload(v);
        }
        self.producer
            .send(record, Duration::from_secs(30))
            .await
            .map(|_| ())
            .map_err(|(e, _)| e.to_string())
    }
}

fn dead_letter_headers(message: &OwnedMessage, reason: &str, error: &str) -> OwnedHeaders {
    let mut headers = OwnedHeaders::new();
    if let Some(original) = message.headers() {
        for h in original.iter() {
            headers = headers.insert(Header {
                key: h.key,
                value: h.value,
            });
        }
    }
    let partition = message.partition().to_string();
    let offset = message.offset().to_string();
    let timestamp = message
        .timestamp()
        .to_millis()
        .map(|t| t.to_string())
        .unwrap_or_default();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    // A reason text is for people; keep it to one bounded line.
    let error: String = error.chars().take(1000).collect();
    for (key, value) in [
        (header::REASON, reason),
        (header::ERROR, error.as_str()),
        (header::SOURCE_TOPIC, message.topic()),
        (header::SOURCE_PARTITION, partition.as_str()),
        (header::SOURCE_OFFSET, offset.as_str()),
        (header::SOURCE_TIMESTAMP, timestamp.as_str()),
        (header::DEAD_LETTERED_AT, now.as_str()),
    ] {
        headers = headers.insert(Header {
            key,
            value: Some(value),
        });
    }
    headers
}
