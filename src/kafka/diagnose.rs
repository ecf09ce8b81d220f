//! Why a Kafka request timed out. librdkafka reports failed SASL authentication, TLS
//! handshakes and refused connections as client-level error events, not as the result of
//! the request that timed out; without them a wrong password reads like a stopped broker.
//! This module asks once more, with a client that listens for those events.

use super::client_config;
use crate::config::KafkaConfig;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A client context that remembers the reason of the last client-level error, and sends
/// librdkafka's own log lines to `debug`: a one-shot command reports the failure once
/// itself, with what to do, instead of librdkafka's lines on the terminal.
#[derive(Debug, Default)]
pub struct LastClientError {
    last: Mutex<Option<String>>,
}

impl LastClientError {
    /// The reason of the last error reported, if any.
    pub fn get(&self) -> Option<String> {
        self.last.lock().ok().and_then(|last| last.clone())
    }
}

impl ClientContext for LastClientError {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        tracing::debug!(?level, fac, message = log_message, "librdkafka");
    }

    fn error(&self, error: KafkaError, reason: &str) {
        // librdkafka repeats these while it retries; the caller reports the last one once.
        tracing::debug!(%error, reason, "Kafka client error");
        if let Ok(mut last) = self.last.lock() {
            *last = Some(reason.to_string());
        }
    }
}

impl ConsumerContext for LastClientError {}

/// The first client-level error a fresh client gets from the brokers of `cfg` within
/// `within` (e.g. `SASL authentication error: Authentication failed ...`), or None when it
/// gets none. Blocking: call it from `spawn_blocking`.
pub fn why_unreachable(cfg: &KafkaConfig, within: Duration) -> Option<String> {
    let mut client = client_config(cfg);
    client
        .set("group.id", "cassflow-diagnose")
        .set_log_level(RDKafkaLogLevel::Emerg);
    let consumer: BaseConsumer<LastClientError> = client
        .create_with_context(LastClientError::default())
        .ok()?;
    let deadline = Instant::now() + within;
    // A metadata request makes the client connect, and so authenticate and handshake.
    let _ = consumer.fetch_metadata(None, within / 2);
    while consumer.context().get().is_none() && Instant::now() < deadline {
        // Error events arrive on the consumer's queue and reach the context when polled.
        let _ = consumer.poll(Duration::from_millis(100));
    }
    consumer.context().get()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::types::RDKafkaErrorCode;

    #[test]
    fn remembers_the_last_reason() {
        let context = LastClientError::default();
        assert_eq!(context.get(), None);
        context.error(
            KafkaError::Global(RDKafkaErrorCode::BrokerTransportFailure),
            "connection refused",
        );
        context.error(
            KafkaError::Global(RDKafkaErrorCode::Authentication),
            "SASL authentication error: Authentication failed",
        );
        assert_eq!(
            context.get().as_deref(),
            Some("SASL authentication error: Authentication failed")
        );
    }

    #[test]
    fn names_a_refused_connection() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(1);
        let cfg = KafkaConfig {
            bootstrap: format!("127.0.0.1:{port}"),
            ..KafkaConfig::default()
        };
        let reason = why_unreachable(&cfg, Duration::from_secs(5));
        assert!(reason.is_some(), "no reason for a closed port");
    }
}
