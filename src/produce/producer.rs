//! The Kafka producer of records: idempotent (`enable.idempotence=true`, `acks=all`), keyed
//! by record id, compressed and batched for throughput. Every delivery report is checked and
//! counted; nothing is fire-and-forget.

use crate::config::{KafkaConfig, ProducerConfig};
use crate::kafka::{client_config, KafkaError};
use crate::record::UserRecord;
use rdkafka::error::{KafkaError as RdKafkaError, RDKafkaErrorCode};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Counts of delivery reports, shared with librdkafka's delivery callback.
#[derive(Debug, Default)]
pub struct DeliveryCounts {
    delivered: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl DeliveryCounts {
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
    pub fn first_error(&self) -> Option<String> {
        self.first_error.lock().ok().and_then(|e| e.clone())
    }
}

/// The producer's context: receives every delivery report. librdkafka's own lines go to
/// debug; the first client-level error (a broker that does not answer) is said once, as
/// deliveries keep being retried until they time out and are counted as failed.
pub struct DeliveryContext {
    counts: Arc<DeliveryCounts>,
    warned: std::sync::atomic::AtomicBool,
}

impl ClientContext for DeliveryContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        tracing::debug!(?level, fac, message = log_message, "librdkafka");
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        if self.warned.swap(true, Ordering::Relaxed) {
            tracing::debug!(%error, reason, "Kafka client error");
        } else {
            tracing::warn!(
                error = reason,
                "Kafka does not answer yet: the producer keeps retrying"
            );
        }
    }
}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {
        match result {
            Ok(_) => {
                self.counts.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((err, _)) => {
                self.counts.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = self.counts.first_error.lock() {
                    if first.is_none() {
                        tracing::error!(error = %err, "delivery failed");
                        *first = Some(err.to_string());
                    }
                }
            }
        }
    }
}

/// Sends records to one topic.
pub struct RecordProducer {
    inner: ThreadedProducer<DeliveryContext>,
    counts: Arc<DeliveryCounts>,
    topic: String,
    enqueued: u64,
    buf: Vec<u8>,
    /// Records in a registry's wire format instead of JSON.
    wire: Option<crate::registry::users::UsersEncoder>,
}

impl RecordProducer {
    pub fn new(
        kafka: &KafkaConfig,
        producer: &ProducerConfig,
        topic: &str,
    ) -> Result<Self, KafkaError> {
        let counts = Arc::new(DeliveryCounts::default());
        let mut cfg = client_config(kafka);
        cfg.set("enable.idempotence", "true")
            .set("acks", "all")
            .set("compression.type", &producer.compression)
            .set("linger.ms", producer.linger.as_millis().to_string())
            .set("batch.size", producer.batch_bytes.to_string())
            .set(
                "message.timeout.ms",
                producer.delivery_timeout.as_millis().to_string(),
            )
            .set("queue.buffering.max.messages", "500000");
        let inner = cfg
            .create_with_context(DeliveryContext {
                counts: counts.clone(),
                warned: Default::default(),
            })
            .map_err(|source| KafkaError::Client {
                bootstrap: kafka.bootstrap.clone(),
                source,
            })?;
        Ok(RecordProducer {
            inner,
            counts,
            topic: topic.to_string(),
            enqueued: 0,
            buf: Vec::with_capacity(512),
            wire: None,
        })
    }

    /// Sends records in the wire format of `encoder`'s schema instead of JSON.
    pub fn with_encoder(mut self, encoder: crate::registry::users::UsersEncoder) -> Self {
        self.wire = Some(encoder);
        self
    }

    pub fn counts(&self) -> Arc<DeliveryCounts> {
        self.counts.clone()
    }

    /// Records handed to librdkafka so far.
    pub fn enqueued(&self) -> u64 {
        self.enqueued
    }

    /// Queues one record (key = its id). Waits while librdkafka's queue is full.
    pub async fn send(&mut self, record: &UserRecord) -> Result<(), KafkaError> {
        // Encoded into buffers kept between records: librdkafka copies what it queues.
        let mut payload = std::mem::take(&mut self.buf);
        payload.clear();
        match &self.wire {
            None => record.write_json(&mut payload),
            Some(encoder) => {
                if let Err(detail) = encoder.encode(record, &mut payload) {
                    self.buf = payload;
                    return Err(KafkaError::Encode { detail });
                }
            }
        }
        let mut key = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let key = record.id.hyphenated().encode_lower(&mut key);
        let result = self.send_bytes(Some(key.as_bytes()), &payload, None).await;
        self.buf = payload;
        result
    }

    /// Queues raw bytes with an optional key and headers (the `--raw` mode and re-sends).
    pub async fn send_bytes(
        &mut self,
        key: Option<&[u8]>,
        payload: &[u8],
        headers: Option<OwnedHeaders>,
    ) -> Result<(), KafkaError> {
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&self.topic).payload(payload);
        if let Some(k) = key {
            record = record.key(k);
        }
        if let Some(h) = headers {
            record = record.headers(h);
        }
        loop {
            match self.inner.send(record) {
                Ok(()) => {
                    self.enqueued += 1;
                    return Ok(());
                }
                Err((RdKafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                Err((e, _)) => {
                    return Err(KafkaError::Produce {
                        topic: self.topic.clone(),
                        source: e,
                    })
                }
            }
        }
    }

    /// Waits until every queued record has a delivery report, or `timeout` passes.
    /// Returns the number still undelivered (counted as failed by the caller).
    pub async fn flush(&self, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        loop {
            let reported = self.counts.delivered() + self.counts.failed();
            if reported >= self.enqueued {
                return 0;
            }
            if Instant::now() >= deadline {
                return self.enqueued - reported;
            }
            // Sends lingering batches now; the waiting is async, so the runtime's worker
            // (shared with the web UI under `cassflow up`) is not blocked.
            let _ = self.inner.flush(Duration::ZERO);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
