//! Dead letters: a message that cannot become a row goes, untouched, to the pipeline's
//! dead-letter topic with the original key, value and headers, plus headers saying why and
//! where it came from.
//!
//! The dead-letter topic is created with room for the source topic's largest message, and
//! dead letters are lz4-compressed, so whatever the source topic accepted fits. When Kafka
//! still refuses a letter as too large (a topic made before, or by someone else), the letter
//! is sent again with its value cut to fit and `cassflow.truncated` naming the original size;
//! the source headers say where the whole message lies. A refusal that retrying cannot
//! change (not authorized, invalid topic, a truncated letter refused too) is returned as
//! [`Refusal::Permanent`] for the job to stop the pipeline; only transient failures are
//! worth retrying. This module never retries itself.

use crate::config::{KafkaConfig, PipelineConfig};
use crate::kafka::diagnose::LastClientError;
use crate::kafka::{admin, client_config, KafkaError};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
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
    /// On a letter whose value was cut to fit: the original value's size in bytes.
    pub const TRUNCATED: &str = "cassflow.truncated";
    /// On a truncated letter that had to leave the original headers out: how many there were.
    pub const HEADERS_DROPPED: &str = "cassflow.headers_dropped";
}

/// The largest uncompressed dead letter the producer builds; larger ones are truncated.
pub const MAX_DEAD_LETTER_BYTES: usize = 32 << 20;

/// Kafka's default `max.message.bytes` (1 MiB plus a record batch's overhead).
const KAFKA_DEFAULT_MAX_MESSAGE_BYTES: usize = 1_048_588;

/// Room on top of the source's limit for cassflow's headers and the batch framing.
const HEADROOM: usize = 64 << 10;

/// Original headers and keys larger than this are left out of a truncated letter.
const KEPT_ON_TRUNCATION: usize = 16 << 10;

/// Why Kafka did not take a dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// May succeed later (broker down, leader election, timeouts): retry.
    Transient,
    /// Retrying cannot change it (not authorized, invalid topic, still too large after
    /// truncation): the pipeline must stop and say why.
    Permanent,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("dead-letter topic `{topic}` refused the letter: {detail}")]
pub struct SendError {
    pub topic: String,
    pub refusal: Refusal,
    pub detail: String,
}

/// How a dead letter went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    Whole,
    /// Its value was cut; the original had this many bytes.
    Truncated {
        original_bytes: usize,
    },
}

/// Whether a producer error is worth retrying, worth truncating, or final.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Classified {
    TooLarge,
    Retry,
    Final,
}

fn classify(code: Option<RDKafkaErrorCode>) -> Classified {
    use RDKafkaErrorCode as C;
    match code {
        Some(C::MessageSizeTooLarge | C::MessageBatchTooLarge) => Classified::TooLarge,
        Some(
            C::TopicAuthorizationFailed
            | C::ClusterAuthorizationFailed
            | C::SaslAuthenticationFailed
            | C::Authentication
            | C::InvalidTopic
            | C::InvalidRecord
            | C::InvalidMessage
            | C::PolicyViolation
            | C::UnsupportedVersion
            | C::Fatal,
        ) => Classified::Final,
        _ => Classified::Retry,
    }
}

/// The fix to print for a final refusal.
fn fix_for(code: Option<RDKafkaErrorCode>, topic: &str) -> String {
    use RDKafkaErrorCode as C;
    match code {
        Some(C::TopicAuthorizationFailed | C::ClusterAuthorizationFailed) => format!(
            "grant the stream's Kafka user WRITE on topic `{topic}`, e.g. `kafka-acls.sh --add --allow-principal User:cassflow --operation Write --topic {topic}`, then restart"
        ),
        Some(C::SaslAuthenticationFailed | C::Authentication) => {
            "check kafka.properties (sasl.username, sasl.password), then restart".to_string()
        }
        Some(C::MessageSizeTooLarge | C::MessageBatchTooLarge) => format!(
            "raise the topic's limit, e.g. `kafka-configs.sh --alter --entity-type topics --entity-name {topic} --add-config max.message.bytes=8388608`, then restart"
        ),
        _ => format!("check topic `{topic}` and the broker's log, then restart"),
    }
}

pub struct DeadLetterQueue {
    /// Opened with the first dead letter: most pipelines never send one, and an open
    /// producer holds a librdkafka instance (threads, buffers, broker connections) whose
    /// polling thread (rust-rdkafka's) spins through the last millisecond of each 100 ms
    /// wait: about 1% of a core for an idle pipeline. librdkafka's lines go to debug: the
    /// consumer's outage log speaks for the pipeline.
    producer: tokio::sync::OnceCell<FutureProducer<LastClientError>>,
    /// The producer's settings.
    settings: rdkafka::ClientConfig,
    bootstrap: String,
    topic: String,
    /// The largest (compressed) message the topic takes, as far as we know.
    limit: usize,
}

impl DeadLetterQueue {
    /// Creates the pipeline's dead-letter topic when missing, with a `max.message.bytes`
    /// that fits the source topic's largest message plus cassflow's headers, and opens a
    /// queue on it.
    pub async fn open(kafka: &KafkaConfig, pipeline: &PipelineConfig) -> Result<Self, KafkaError> {
        let topic = pipeline.dead_letter_topic();
        let source = admin::topic_max_message_bytes(kafka, &pipeline.topic)
            .await?
            .unwrap_or(KAFKA_DEFAULT_MAX_MESSAGE_BYTES);
        let wanted = source.max(KAFKA_DEFAULT_MAX_MESSAGE_BYTES) + HEADROOM;
        let wanted_text = wanted.to_string();
        let created = admin::ensure_topic_with(
            kafka,
            &topic,
            pipeline.partitions,
            pipeline.topic_replication_factor(),
            &[("max.message.bytes", &wanted_text)],
        )
        .await?;
        let limit = if created {
            wanted
        } else {
            let limit = admin::topic_max_message_bytes(kafka, &topic)
                .await?
                .unwrap_or(KAFKA_DEFAULT_MAX_MESSAGE_BYTES);
            if limit < wanted {
                tracing::warn!(
                    dead_letter_topic = %topic,
                    limit,
                    source_topic = %pipeline.topic,
                    source_limit = source,
                    "the dead-letter topic takes smaller messages than the source topic: larger dead letters are truncated (fix: kafka-configs.sh --alter --entity-type topics --entity-name {topic} --add-config max.message.bytes={wanted})"
                );
            }
            limit
        };
        Self::new(kafka, &topic, limit)
    }

    /// A queue on an existing `topic` that takes messages up to `limit` bytes; its producer
    /// opens with the first letter. The settings are checked now: a producer of them is
    /// built and dropped at once (a `BaseProducer`, which has no polling thread), so that a
    /// `kafka.properties` entry librdkafka refuses for an idempotent producer (`retries = 0`,
    /// `max.in.flight` above 5, ...) stops the pipeline at its start, not at its first dead
    /// letter.
    pub fn new(kafka: &KafkaConfig, topic: &str, limit: usize) -> Result<Self, KafkaError> {
        let mut settings = client_config(kafka);
        settings
            .set("enable.idempotence", "true")
            .set("acks", "all")
            // Whatever fit the source topic compressed must fit here too.
            .set("compression.type", "lz4")
            .set("message.max.bytes", MAX_DEAD_LETTER_BYTES.to_string())
            .set("linger.ms", "5");
        let checked: Result<rdkafka::producer::BaseProducer, _> = settings.create();
        checked.map_err(|source| KafkaError::Client {
            bootstrap: kafka.bootstrap.clone(),
            source,
        })?;
        Ok(DeadLetterQueue {
            producer: tokio::sync::OnceCell::new(),
            settings,
            bootstrap: kafka.bootstrap.clone(),
            topic: topic.to_string(),
            limit: limit.min(MAX_DEAD_LETTER_BYTES),
        })
    }

    /// The producer, opened on first use. Its settings passed [`DeadLetterQueue::new`]'s
    /// check; if it fails all the same, nothing can be dead-lettered and the pipeline must
    /// stop.
    async fn producer(&self) -> Result<&FutureProducer<LastClientError>, SendError> {
        self.producer
            .get_or_try_init(|| async {
                tracing::debug!(dead_letter_topic = %self.topic, "opening the dead-letter producer");
                self.settings
                    .create_with_context(LastClientError::default())
                    .map_err(|source| SendError {
                        topic: self.topic.clone(),
                        refusal: Refusal::Permanent,
                        detail: KafkaError::Client {
                            bootstrap: self.bootstrap.clone(),
                            source,
                        }
                        .to_string(),
                    })
            })
            .await
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Sends one dead letter for `message`: whole, or with its value cut when Kafka refuses
    /// it as too large. Returns why this attempt failed otherwise.
    pub async fn send(
        &self,
        message: &OwnedMessage,
        reason: &str,
        error: &str,
    ) -> Result<Sent, SendError> {
        let producer = self.producer().await?;
        let code = match self.send_whole(producer, message, reason, error).await {
            Ok(()) => return Ok(Sent::Whole),
            Err(code) => code,
        };
        match classify(code) {
            Classified::Retry => return Err(self.refused(code, Refusal::Transient)),
            Classified::Final => return Err(self.refused(code, Refusal::Permanent)),
            Classified::TooLarge => {}
        }
        let original_bytes = message.payload().map_or(0, <[u8]>::len);
        tracing::warn!(
            dead_letter_topic = %self.topic,
            partition = message.partition(),
            offset = message.offset(),
            bytes = original_bytes,
            limit = self.limit,
            "dead letter too large for its topic: sending it truncated"
        );
        // Our idea of the limit may be too generous (no DescribeConfigs permission):
        // halve the budget a few times before giving up.
        let mut budget = truncation_budget(self.limit);
        let mut last = code;
        for _ in 0..4 {
            match self
                .send_truncated(producer, message, reason, error, budget)
                .await
            {
                Ok(()) => return Ok(Sent::Truncated { original_bytes }),
                Err(code) => match classify(code) {
                    Classified::TooLarge => last = code,
                    Classified::Retry => return Err(self.refused(code, Refusal::Transient)),
                    Classified::Final => return Err(self.refused(code, Refusal::Permanent)),
                },
            }
            budget /= 2;
        }
        Err(SendError {
            topic: self.topic.clone(),
            refusal: Refusal::Permanent,
            detail: format!(
                "even truncated to {} bytes it is too large ({}) (fix: {})",
                budget * 2,
                last.map_or("refused".to_string(), |c| c.to_string()),
                fix_for(last, &self.topic)
            ),
        })
    }

    fn refused(&self, code: Option<RDKafkaErrorCode>, refusal: Refusal) -> SendError {
        let what = code.map_or("refused".to_string(), |c| c.to_string());
        let detail = match refusal {
            Refusal::Transient => what,
            Refusal::Permanent => format!("{what} (fix: {})", fix_for(code, &self.topic)),
        };
        SendError {
            topic: self.topic.clone(),
            refusal,
            detail,
        }
    }

    async fn send_whole(
        &self,
        producer: &FutureProducer<LastClientError>,
        message: &OwnedMessage,
        reason: &str,
        error: &str,
    ) -> Result<(), Option<RDKafkaErrorCode>> {
        let headers = dead_letter_headers(message, reason, error, true);
        self.deliver(producer, headers, message.key(), message.payload())
            .await
    }

    async fn send_truncated(
        &self,
        producer: &FutureProducer<LastClientError>,
        message: &OwnedMessage,
        reason: &str,
        error: &str,
        budget: usize,
    ) -> Result<(), Option<RDKafkaErrorCode>> {
        let payload = message.payload().unwrap_or_default();
        let original_headers = message.headers().map_or(0, |h| {
            h.iter()
                .map(|h| h.key.len() + h.value.map_or(0, <[u8]>::len))
                .sum()
        });
        let keep_headers = original_headers <= KEPT_ON_TRUNCATION;
        let key = message.key().filter(|k| k.len() <= KEPT_ON_TRUNCATION);
        let mut headers = dead_letter_headers(message, reason, error, keep_headers);
        let size = payload.len().to_string();
        headers = headers.insert(Header {
            key: header::TRUNCATED,
            value: Some(size.as_str()),
        });
        if !keep_headers {
            let dropped = message.headers().map_or(0, |h| h.count()).to_string();
            headers = headers.insert(Header {
                key: header::HEADERS_DROPPED,
                value: Some(dropped.as_str()),
            });
        }
        let cut = &payload[..payload.len().min(budget)];
        self.deliver(producer, headers, key, Some(cut)).await
    }

    async fn deliver(
        &self,
        producer: &FutureProducer<LastClientError>,
        headers: OwnedHeaders,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
    ) -> Result<(), Option<RDKafkaErrorCode>> {
        let mut record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(&self.topic).headers(headers);
        if let Some(k) = key {
            record = record.key(k);
        }
        if let Some(v) = payload {
            record = record.payload(v);
        }
        // Boxed: the producer's future is large and dead letters are rare.
        Box::pin(producer.send(record, Duration::from_secs(30)))
            .await
            .map(|_| ())
            .map_err(|(e, _)| {
                tracing::debug!(dead_letter_topic = %self.topic, error = %e, "dead letter not delivered");
                e.rdkafka_error_code()
            })
    }
}

/// Bytes of value a truncated letter may carry on a topic that takes `limit` bytes: room
/// for cassflow's headers (each bounded), a kept key and kept headers, and lz4's worst case
/// on incompressible data.
fn truncation_budget(limit: usize) -> usize {
    // cassflow's headers, a kept key and kept headers, framing.
    let overhead = (4 << 10) + 2 * KEPT_ON_TRUNCATION + 1024;
    (limit.saturating_sub(overhead) / 256 * 255).max(1024)
}

fn dead_letter_headers(
    message: &OwnedMessage,
    reason: &str,
    error: &str,
    keep_original: bool,
) -> OwnedHeaders {
    let mut headers = OwnedHeaders::new();
    if let Some(original) = message.headers().filter(|_| keep_original) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use RDKafkaErrorCode as C;

    #[tokio::test]
    async fn settings_an_idempotent_producer_refuses_fail_at_the_start() {
        // No broker is needed to build a producer: an unreachable bootstrap does.
        let mut kafka = KafkaConfig {
            bootstrap: "127.0.0.1:9".into(),
            ..KafkaConfig::default()
        };
        let queue = DeadLetterQueue::new(&kafka, "t.dlq", 1 << 20).expect("default settings");
        assert!(queue.producer.get().is_none(), "not opened before a letter");
        kafka.properties.insert("retries".into(), "0".into());
        let refused = DeadLetterQueue::new(&kafka, "t.dlq", 1 << 20).err();
        assert!(
            refused
                .as_ref()
                .is_some_and(|e| e.to_string().contains("retries")),
            "{refused:?}"
        );
    }

    #[test]
    fn too_large_is_truncated_not_retried() {
        assert_eq!(classify(Some(C::MessageSizeTooLarge)), Classified::TooLarge);
        assert_eq!(
            classify(Some(C::MessageBatchTooLarge)),
            Classified::TooLarge
        );
    }

    #[test]
    fn refusals_retrying_cannot_change_are_final() {
        for code in [
            C::TopicAuthorizationFailed,
            C::ClusterAuthorizationFailed,
            C::InvalidTopic,
            C::InvalidRecord,
            C::Fatal,
        ] {
            assert_eq!(classify(Some(code)), Classified::Final, "{code:?}");
        }
        assert!(
            fix_for(Some(C::TopicAuthorizationFailed), "t.dlq").contains("WRITE on topic `t.dlq`")
        );
    }

    #[test]
    fn outages_are_retried() {
        for code in [
            C::MessageTimedOut,
            C::QueueFull,
            C::AllBrokersDown,
            C::NotLeaderForPartition,
            C::UnknownTopicOrPartition,
            C::RequestTimedOut,
        ] {
            assert_eq!(classify(Some(code)), Classified::Retry, "{code:?}");
        }
        assert_eq!(classify(None), Classified::Retry);
    }

    #[test]
    fn a_truncated_letter_fits_with_its_headers() {
        let budget = truncation_budget(KAFKA_DEFAULT_MAX_MESSAGE_BYTES);
        assert!(budget > 900_000, "{budget}");
        assert!(budget + 4096 + 2 * KEPT_ON_TRUNCATION < KAFKA_DEFAULT_MAX_MESSAGE_BYTES);
        assert_eq!(truncation_budget(10), 1024, "never nothing");
    }
}
