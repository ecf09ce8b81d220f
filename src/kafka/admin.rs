//! Topic administration and broker probes: creating topics through the admin API (cassflow
//! never relies on broker auto-creation) and asking a broker for metadata.

use super::{client_config, diagnose, KafkaError};
use crate::config::KafkaConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;
use std::time::Duration;

const MIN_INSYNC_REPLICAS: &str = "min.insync.replicas";

/// The `min.insync.replicas` a topic created with `replication` gets: a majority from 3
/// replicas on (2 of 3, 3 of 5); None below (and for -1, the brokers' default), where a
/// majority would be every replica and one broker's loss would stop the writes.
fn min_insync_replicas(replication: i16) -> Option<i16> {
    (replication >= 3).then_some(replication / 2 + 1)
}

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

/// Creates `topic` with the given partitions and replication unless it exists; a
/// replication of -1 takes the brokers' `default.replication.factor` (as Kafka's
/// CreateTopics request does). Returns true when this call created it.
pub async fn ensure_topic(
    cfg: &KafkaConfig,
    topic: &str,
    partitions: i32,
    replication: i16,
) -> Result<bool, KafkaError> {
    ensure_topic_with(cfg, topic, partitions, replication, &[]).await
}

/// Like [`ensure_topic`], with topic configs (e.g. `max.message.bytes`) for a topic it
/// creates; an existing topic is left as it is. A replication of 3 or more gets
/// `min.insync.replicas` a majority of it (2 of 3) unless `configs` sets it, so an
/// `acks=all` write survives the loss of one broker and is never acknowledged by one alone.
///
/// The topic is looked up first and created only when the broker says it is missing, so an
/// existing topic needs only Describe permission, not Create (a user allowed to read and
/// write a topic but not to create topics can run cassflow on it).
pub async fn ensure_topic_with(
    cfg: &KafkaConfig,
    topic: &str,
    partitions: i32,
    replication: i16,
    configs: &[(&str, &str)],
) -> Result<bool, KafkaError> {
    let fail = |reason: String| KafkaError::CreateTopic {
        topic: topic.to_string(),
        bootstrap: cfg.bootstrap.clone(),
        reason,
    };
    match topic_exists(cfg, topic).await? {
        Lookup::Exists => return Ok(false),
        Lookup::Missing | Lookup::Unknown => {}
        Lookup::Unreachable => return Err(fail(unreachable_reason(cfg).await?)),
    }
    let admin = admin_client(cfg)?;
    let mut new_topic = NewTopic::new(
        topic,
        partitions,
        TopicReplication::Fixed(i32::from(replication)),
    );
    let majority = min_insync_replicas(replication).map(|n| n.to_string());
    if let Some(majority) = &majority {
        if !configs.iter().any(|(k, _)| *k == MIN_INSYNC_REPLICAS) {
            new_topic = new_topic.set(MIN_INSYNC_REPLICAS, majority);
        }
    }
    for (key, value) in configs {
        new_topic = new_topic.set(key, value);
    }
    let results = match admin.create_topics([&new_topic], &options(cfg)).await {
        Ok(results) => results,
        Err(rdkafka::error::KafkaError::AdminOp(RDKafkaErrorCode::OperationTimedOut)) => {
            return Err(fail(unreachable_reason(cfg).await?));
        }
        Err(e) => return Err(fail(e.to_string())),
    };
    match results.into_iter().next() {
        Some(Ok(_)) => Ok(true),
        Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => Ok(false),
        Some(Err((
            _,
            code @ (RDKafkaErrorCode::TopicAuthorizationFailed
            | RDKafkaErrorCode::ClusterAuthorizationFailed),
        ))) => Err(fail(format!(
            "{code} (fix: have an administrator create the topic, e.g. `kafka-topics.sh \
             --create --topic {topic} --partitions {partitions}`, or grant this user Create \
             on it; cassflow only needs Describe, Read and Write on an existing topic)"
        ))),
        Some(Err((_, code))) => Err(fail(code.to_string())),
        None => Err(fail("the broker returned no result".into())),
    }
}

/// Deletes `topics`; one already gone is not an error.
pub async fn delete_topics(cfg: &KafkaConfig, topics: &[String]) -> Result<(), KafkaError> {
    if topics.is_empty() {
        return Ok(());
    }
    let fail = |topic: &str, reason: String| KafkaError::DeleteTopic {
        topic: topic.to_string(),
        bootstrap: cfg.bootstrap.clone(),
        reason,
    };
    let admin = admin_client(cfg)?;
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    let results = admin
        .delete_topics(&names, &options(cfg))
        .await
        .map_err(|e| fail(&topics.join(", "), e.to_string()))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
            Err((topic, code)) => return Err(fail(&topic, code.to_string())),
        }
    }
    Ok(())
}

/// The topic's effective `max.message.bytes` (its own setting or the broker's default), or
/// None when the broker does not say (no DescribeConfigs permission, or an error).
pub async fn topic_max_message_bytes(
    cfg: &KafkaConfig,
    topic: &str,
) -> Result<Option<usize>, KafkaError> {
    let admin = admin_client(cfg)?;
    let resource = ResourceSpecifier::Topic(topic);
    let described = admin.describe_configs([&resource], &options(cfg)).await;
    let value = match described {
        Ok(results) => results.into_iter().next().and_then(|r| match r {
            Ok(resource) => resource
                .get("max.message.bytes")
                .and_then(|e| e.value.as_deref())
                .and_then(|v| v.parse::<usize>().ok()),
            Err(code) => {
                tracing::debug!(topic, error = %code, "cannot describe the topic's configs");
                None
            }
        }),
        Err(e) => {
            tracing::debug!(topic, error = %e, "cannot describe the topic's configs");
            None
        }
    };
    Ok(value)
}

fn admin_client(cfg: &KafkaConfig) -> Result<AdminClient<DefaultClientContext>, KafkaError> {
    client_config(cfg)
        .create()
        .map_err(|source| KafkaError::Client {
            bootstrap: cfg.bootstrap.clone(),
            source,
        })
}

fn options(cfg: &KafkaConfig) -> AdminOptions {
    AdminOptions::new()
        .operation_timeout(Some(cfg.request_timeout))
        .request_timeout(Some(cfg.request_timeout))
}

/// What a metadata request said about one topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lookup {
    Exists,
    Missing,
    /// The broker answered but would not say (e.g. no Describe permission): try creating.
    Unknown,
    Unreachable,
}

/// Asks the cluster whether `topic` exists (a metadata request: Describe permission only).
async fn topic_exists(cfg: &KafkaConfig, topic: &str) -> Result<Lookup, KafkaError> {
    let client: BaseConsumer = client_config(cfg)
        .set("allow.auto.create.topics", "false")
        .create()
        .map_err(|source| KafkaError::Client {
            bootstrap: cfg.bootstrap.clone(),
            source,
        })?;
    let (name, timeout) = (topic.to_string(), cfg.request_timeout);
    let lookup = tokio::task::spawn_blocking(move || {
        let metadata = client.fetch_metadata(Some(&name), timeout);
        classify_lookup(metadata.as_ref().map(|m| {
            m.topics()
                .iter()
                .find(|t| t.name() == name)
                .map(|t| t.error().map(RDKafkaErrorCode::from))
        }))
    })
    .await?;
    Ok(lookup)
}

/// `Ok(None)`: the topic is not in the answer; `Ok(Some(error))`: its entry and its error.
fn classify_lookup(
    answer: Result<Option<Option<RDKafkaErrorCode>>, &rdkafka::error::KafkaError>,
) -> Lookup {
    match answer {
        Ok(Some(None)) => Lookup::Exists,
        Ok(None)
        | Ok(Some(Some(
            RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic,
        ))) => Lookup::Missing,
        // Leader elections and the like: the topic is there.
        Ok(Some(Some(RDKafkaErrorCode::LeaderNotAvailable))) => Lookup::Exists,
        Ok(Some(Some(_))) => Lookup::Unknown,
        Err(e) => match e.rdkafka_error_code() {
            Some(
                RDKafkaErrorCode::OperationTimedOut
                | RDKafkaErrorCode::AllBrokersDown
                | RDKafkaErrorCode::BrokerTransportFailure
                | RDKafkaErrorCode::Resolve,
            ) => Lookup::Unreachable,
            _ => Lookup::Unknown,
        },
    }
}

/// Why Kafka did not answer within the request timeout, with the fix.
async fn unreachable_reason(cfg: &KafkaConfig) -> Result<String, KafkaError> {
    let waited = humantime::format_duration(cfg.request_timeout);
    let probe = cfg.clone();
    let within = cfg.request_timeout.min(Duration::from_secs(5));
    let reason =
        tokio::task::spawn_blocking(move || diagnose::why_unreachable(&probe, within)).await?;
    const START: &str =
        "start it with `cassflow local start`, or point kafka.bootstrap at a running broker";
    const SECURITY: &str =
        "check kafka.properties: security.protocol, sasl.*, ssl.* must match the broker's listener";
    Ok(match reason {
        Some(reason) => {
            let lower = reason.to_ascii_lowercase();
            let security = ["authentication", "ssl", "sasl", "certificate"]
                .iter()
                .any(|w| lower.contains(w));
            let fix = if security { SECURITY } else { START };
            format!("Kafka did not answer within {waited}: {reason} (fix: {fix})")
        }
        None => format!("Kafka did not answer within {waited} (fix: {START})"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicated_topics_need_a_majority_in_sync() {
        assert_eq!(min_insync_replicas(-1), None, "the brokers' default");
        assert_eq!(min_insync_replicas(1), None);
        assert_eq!(min_insync_replicas(2), None);
        assert_eq!(min_insync_replicas(3), Some(2));
        assert_eq!(min_insync_replicas(5), Some(3));
    }

    #[test]
    fn an_existing_topic_is_not_created_again() {
        assert_eq!(classify_lookup(Ok(Some(None))), Lookup::Exists);
        assert_eq!(
            classify_lookup(Ok(Some(Some(RDKafkaErrorCode::LeaderNotAvailable)))),
            Lookup::Exists
        );
    }

    #[test]
    fn a_missing_topic_is_created() {
        assert_eq!(classify_lookup(Ok(None)), Lookup::Missing);
        assert_eq!(
            classify_lookup(Ok(Some(Some(RDKafkaErrorCode::UnknownTopicOrPartition)))),
            Lookup::Missing
        );
    }

    #[test]
    fn a_refused_lookup_still_tries_to_create() {
        // No Describe permission: creating may still be allowed (and says why if not).
        assert_eq!(
            classify_lookup(Ok(Some(Some(RDKafkaErrorCode::TopicAuthorizationFailed)))),
            Lookup::Unknown
        );
        let timeout =
            rdkafka::error::KafkaError::MetadataFetch(RDKafkaErrorCode::OperationTimedOut);
        assert_eq!(classify_lookup(Err(&timeout)), Lookup::Unreachable);
    }
}
