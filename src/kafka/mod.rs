//! Kafka clients as cassflow configures them: shared client settings, topic administration
//! and reachability probes. Producing and consuming records live with the producer and the
//! stream job; this module owns only what every Kafka client needs.

pub mod admin;
pub mod diagnose;

use crate::config::KafkaConfig;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KafkaError {
    #[error("cannot encode a record for its schema: {detail}")]
    Encode { detail: String },
    #[error("cannot create a Kafka client for {bootstrap}: {source}")]
    Client {
        bootstrap: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("Kafka at {bootstrap} did not answer a metadata request within {timeout:?}: {source} (fix: start it with `cassflow local start`, or point kafka.bootstrap at a running broker)")]
    Unreachable {
        bootstrap: String,
        timeout: std::time::Duration,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("cannot create topic `{topic}` on {bootstrap}: {reason}")]
    CreateTopic {
        topic: String,
        bootstrap: String,
        reason: String,
    },
    #[error("cannot delete topic `{topic}` on {bootstrap}: {reason}")]
    DeleteTopic {
        topic: String,
        bootstrap: String,
        reason: String,
    },
    #[error("cannot queue a record for topic `{topic}`: {source}")]
    Produce {
        topic: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("a blocking Kafka call was cancelled: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Base settings for every client: bootstrap servers, timeouts and user properties.
pub fn client_config(cfg: &KafkaConfig) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &cfg.bootstrap)
        .set(
            "socket.connection.setup.timeout.ms",
            cfg.request_timeout.as_millis().to_string(),
        )
        .set_log_level(RDKafkaLogLevel::Warning);
    for (k, v) in &cfg.properties {
        client.set(k, v);
    }
    // librdkafka's `debug` contexts log at debug level: a user who asks for them sees them.
    if cfg.properties.contains_key("debug") {
        client.set_log_level(RDKafkaLogLevel::Debug);
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_debug_property_lets_librdkafkas_debug_lines_through() {
        let mut cfg = KafkaConfig::default();
        assert!(matches!(
            client_config(&cfg).log_level,
            RDKafkaLogLevel::Warning
        ));
        cfg.properties
            .insert("debug".into(), "broker,protocol".into());
        let client = client_config(&cfg);
        assert!(matches!(client.log_level, RDKafkaLogLevel::Debug));
        assert_eq!(client.get("debug"), Some("broker,protocol"));
    }
}
