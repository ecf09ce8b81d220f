//! Topic administration and broker probes: creating topics through the admin API (cassflow
//! never relies on broker auto-creation) and asking a broker for metadata.

use super::{client_config, diagnose, KafkaError};
use crate::config::KafkaConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::types::RDKafkaErrorCode;
use std::time::Duration;

/// What a broker told us about the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterInfo {
    pub brokers: usize,
    pub topics: Vec<String>,
}

/// Asks the cluster for metadata; succeeds only if a broker really answers.
pub async fn probe(cfg: &KafkaConfig, timeout: Duration) -> Result<ClusterInfo, KafkaError> {
    let mut client = client_config(cfg);
    // A probe expects refusals while a broker starts; keep librdkafka quiet about them.
    client.set_log_level(RDKafkaLogLevel::Emerg);
    let admin: AdminClient<DefaultClientContext> =
        client.create().map_err(|source| KafkaError::Client {
            bootstrap: cfg.bootstrap.clone(),
            source,
        })?;
    let bootstrap = cfg.bootstrap.clone();
    tokio::task::spawn_blocking(move || {
        let metadata = admin
            .inner()
            .fetch_metadata(None, timeout)
            .map_err(|source| KafkaError::Unreachable {
                bootstrap,
                timeout,
                source,
            })?;
        Ok(ClusterInfo {
            brokers: metadata.brokers().len(),
            topics: metadata
                .topics()
                .iter()
                .map(|t| t.name().to_string())
                .collect(),
        })
    })
    .await?
}

/// Creates `topic` with the given partitions and replication unless it exists.
/// Returns true when this call created it.
pub async fn ensure_topic(
    cfg: &KafkaConfig,
    topic: &str,
    partitions: i32,
    replication: i16,
) -> Result<bool, KafkaError> {
    let admin: AdminClient<DefaultClientContext> =
        client_config(cfg)
            .create()
            .map_err(|source| KafkaError::Client {
                bootstrap: cfg.bootstrap.clone(),
                source,
            })?;
    let new_topic = NewTopic::new(
        topic,
        partitions,
        TopicReplication::Fixed(i32::from(replication)),
    );
    let options = AdminOptions::new()
        .operation_timeout(Some(cfg.request_timeout))
        .request_timeout(Some(cfg.request_timeout));
    let fail = |reason: String| KafkaError::CreateTopic {
        topic: topic.to_string(),
        bootstrap: cfg.bootstrap.clone(),
        reason,
    };
    let results = match admin.create_topics([&new_topic], &options).await {
        Ok(results) => results,
        Err(rdkafka::error::KafkaError::AdminOp(RDKafkaErrorCode::OperationTimedOut)) => {
            let waited = humantime::format_duration(cfg.request_timeout);
            let probe = cfg.clone();
            let within = cfg.request_timeout.min(Duration::from_secs(5));
            let reason =
                tokio::task::spawn_blocking(move || diagnose::why_unreachable(&probe, within))
                    .await?;
            const START: &str = "start it with `cassflow local start`, or point kafka.bootstrap at a running broker";
            const SECURITY: &str =
                "check kafka.properties: security.protocol, sasl.*, ssl.* must match the broker's listener";
            return Err(fail(match reason {
                Some(reason) => {
                    let lower = reason.to_ascii_lowercase();
                    let security = ["authentication", "ssl", "sasl", "certificate"]
                        .iter()
                        .any(|w| lower.contains(w));
                    let fix = if security { SECURITY } else { START };
                    format!("Kafka did not answer within {waited}: {reason} (fix: {fix})")
                }
                None => format!("Kafka did not answer within {waited} (fix: {START})"),
            }));
        }
        Err(e) => return Err(fail(e.to_string())),
    };
    match results.into_iter().next() {
        Some(Ok(_)) => Ok(true),
        Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => Ok(false),
        Some(Err((_, code))) => Err(fail(code.to_string())),
        None => Err(fail("the broker returned no result".into())),
    }
}
