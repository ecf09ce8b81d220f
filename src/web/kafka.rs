//! Reading Kafka for the UI: topics, partitions with their low/high offsets, and consumer
//! groups' committed offsets and lag (messages themselves: [`super::messages`]). Nothing
//! here joins a consumer group or commits an offset. librdkafka calls block, so each runs
//! on the blocking pool.

use super::WebError;
use crate::config::KafkaConfig;
use crate::kafka::client_config;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::FutureProducer;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use serde::Serialize;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

pub use super::messages::ShownMessage;

#[derive(Debug, Clone, Serialize)]
pub struct TopicSummary {
    pub name: String,
    pub partitions: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct PartitionOffsets {
    pub partition: i32,
    pub leader: i32,
    pub low: i64,
    pub high: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupLag {
    pub group: String,
    /// (partition, committed offset if any, lag if committed)
    pub partitions: Vec<(i32, Option<i64>, Option<i64>)>,
    pub total_lag: i64,
}

pub struct KafkaBrowser {
    pub(super) config: KafkaConfig,
    /// For metadata, watermarks and group lists (no group, never subscribes).
    meta: Arc<BaseConsumer>,
    pub(super) producer: FutureProducer,
    pub(super) timeout: Duration,
}

pub(super) fn kafka_err(what: &str) -> impl Fn(KafkaError) -> WebError + '_ {
    move |e| WebError::Kafka(format!("{what}: {e}"))
}

impl KafkaBrowser {
    pub fn new(config: &KafkaConfig) -> Result<Self, WebError> {
        let meta: BaseConsumer = client_config(config)
            .create()
            .map_err(kafka_err("cannot create a Kafka client"))?;
        let producer: FutureProducer = client_config(config)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .create()
            .map_err(kafka_err("cannot create a Kafka producer"))?;
        Ok(KafkaBrowser {
            config: config.clone(),
            meta: Arc::new(meta),
            producer,
            timeout: config.request_timeout.min(Duration::from_secs(10)),
        })
    }

    pub(super) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(Arc<BaseConsumer>, Duration) -> Result<T, WebError> + Send + 'static,
    ) -> Result<T, WebError> {
        let (meta, timeout) = (self.meta.clone(), self.timeout);
        tokio::task::spawn_blocking(move || f(meta, timeout))
            .await
            .map_err(|e| WebError::Internal(format!("Kafka call aborted: {e}")))?
    }

    /// The number of brokers, if the cluster answers within `timeout`.
    pub async fn reachable(&self, timeout: Duration) -> Result<usize, WebError> {
        self.blocking(move |meta, _| {
            let md = meta
                .fetch_metadata(None, timeout)
                .map_err(kafka_err("metadata"))?;
            Ok(md.brokers().len())
        })
        .await
    }

    /// Every topic but Kafka's internal ones, by name.
    pub async fn topics(&self) -> Result<Vec<TopicSummary>, WebError> {
        self.blocking(|meta, timeout| {
            let md = meta
                .fetch_metadata(None, timeout)
                .map_err(kafka_err("metadata"))?;
            let mut topics: Vec<TopicSummary> = md
                .topics()
                .iter()
                .filter(|t| !t.name().starts_with("__"))
                .map(|t| TopicSummary {
                    name: t.name().to_string(),
                    partitions: t.partitions().len(),
                })
                .collect();
            topics.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(topics)
        })
        .await
    }

    /// The topic's partitions with their offsets; `NotFound` if the topic does not exist.
    pub async fn partitions(&self, topic: &str) -> Result<Vec<PartitionOffsets>, WebError> {
        let topic = topic.to_string();
        self.blocking(move |meta, timeout| {
            let md = meta
                .fetch_metadata(Some(&topic), timeout)
                .map_err(kafka_err("metadata"))?;
            let t = md
                .topics()
                .iter()
                .find(|t| t.name() == topic)
                .filter(|t| t.error().is_none() && !t.partitions().is_empty())
                .ok_or_else(|| WebError::NotFound(format!("topic `{topic}`")))?;
            let mut out = Vec::new();
            for p in t.partitions() {
                let (low, high) = meta
                    .fetch_watermarks(&topic, p.id(), timeout)
                    .map_err(kafka_err("offsets"))?;
                out.push(PartitionOffsets {
                    partition: p.id(),
                    leader: p.leader(),
                    low,
                    high,
                });
            }
            out.sort_by_key(|p| p.partition);
            Ok(out)
        })
        .await
    }

    /// Committed offsets and lag of the consumer groups reading `topic`: the `known`
    /// groups (configured pipelines) and every active group subscribed to the topic.
    pub async fn group_lag(
        &self,
        topic: &str,
        partitions: &[PartitionOffsets],
        known: Vec<String>,
    ) -> Result<Vec<GroupLag>, WebError> {
        let topic = topic.to_string();
        let partitions = partitions.to_vec();
        let config = self.config.clone();
        self.blocking(move |meta, timeout| {
            let mut groups: Vec<String> = known;
            let list = meta
                .fetch_group_list(None, timeout)
                .map_err(kafka_err("consumer groups"))?;
            for g in list.groups() {
                // Subscriptions and assignments carry topic names as plain strings.
                let reads_topic = g.members().iter().any(|m| {
                    [m.metadata(), m.assignment()]
                        .into_iter()
                        .flatten()
                        .any(|b| contains(b, topic.as_bytes()))
                });
                if g.protocol_type() == "consumer" && reads_topic {
                    groups.push(g.name().to_string());
                }
            }
            let mut seen = HashSet::new();
            groups.retain(|g| seen.insert(g.clone()));
            let mut out = Vec::new();
            for group in groups {
                let consumer: BaseConsumer = client_config(&config)
                    .set("group.id", &group)
                    .set("enable.auto.commit", "false")
                    .create()
                    .map_err(kafka_err("cannot create a Kafka client"))?;
                let mut tpl = TopicPartitionList::new();
                for p in &partitions {
                    tpl.add_partition(&topic, p.partition);
                }
                let committed = consumer
                    .committed_offsets(tpl, timeout)
                    .map_err(kafka_err("committed offsets"))?;
                let mut lag = GroupLag {
                    group,
                    partitions: Vec::new(),
                    total_lag: 0,
                };
                for p in &partitions {
                    let offset =
                        committed.find_partition(&topic, p.partition).and_then(|e| {
                            match e.offset() {
                                Offset::Offset(o) => Some(o),
                                _ => None,
                            }
                        });
                    let behind = offset.map(|o| (p.high - o).max(0));
                    lag.total_lag += behind.unwrap_or(0);
                    lag.partitions.push((p.partition, offset, behind));
                }
                if lag.partitions.iter().any(|(_, o, _)| o.is_some()) {
                    out.push(lag);
                }
            }
            Ok(out)
        })
        .await
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
