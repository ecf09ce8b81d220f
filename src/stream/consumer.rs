//! The Kafka consumer of a pipeline, configured for at-least-once delivery: offsets are
//! stored by the job only after a record is finished (`enable.auto.offset.store=false`) and
//! committed asynchronously; stored offsets are committed synchronously when partitions are
//! revoked. Also resets a group's offsets for replays, and reports lag from librdkafka's
//! statistics. While Kafka does not answer, the pipeline says so once, then a summary every
//! 30 s, and once when a broker is up again; librdkafka's own lines go to debug.

use super::metrics::{self, StreamMetrics};
use super::pause_log::PauseLog;
use super::StreamError;
use crate::config::{KafkaConfig, PipelineConfig};
use crate::kafka::client_config;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::ClientContext;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A change of assignment the job must react to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebalanceEvent {
    Assigned(Vec<i32>),
    Revoked(Vec<i32>),
}

pub struct PipelineContext {
    pipeline: String,
    topic: String,
    events: Mutex<Vec<RebalanceEvent>>,
    /// Offsets the broker confirmed committed (partition, offset) since the last call of
    /// [`PipelineContext::take_commits`].
    commits: Mutex<Vec<(i32, i64)>>,
    metrics: Arc<StreamMetrics>,
    /// Kafka's current outage, as seen by the client's error events.
    outage: PauseLog,
}

impl PipelineContext {
    /// Rebalance events since the last call.
    pub fn take_events(&self) -> Vec<RebalanceEvent> {
        self.events
            .lock()
            .map(|mut e| std::mem::take(&mut *e))
            .unwrap_or_default()
    }

    /// Offsets the broker confirmed committed since the last call.
    pub fn take_commits(&self) -> Vec<(i32, i64)> {
        self.commits
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
    }

    /// Whether Kafka is not answering (its outage is logged already).
    pub fn kafka_down(&self) -> bool {
        self.outage.is_on()
    }

    fn push(&self, event: RebalanceEvent) {
        if let Ok(mut events) = self.events.lock() {
            events.push(event);
        }
    }
}

fn partitions(tpl: &TopicPartitionList) -> Vec<i32> {
    tpl.elements().iter().map(|e| e.partition()).collect()
}

impl ClientContext for PipelineContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        tracing::debug!(pipeline = %self.pipeline, ?level, fac, message = log_message, "librdkafka");
    }

    /// librdkafka reports each failed connection while it reconnects; the pipeline says
    /// the outage once and then sums it up (see [`PauseLog`]).
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(pipeline = %self.pipeline, %error, reason, "Kafka client error");
        metrics::note_error(&self.pipeline, &format!("Kafka: {reason}"));
        if self.outage.is_on() {
            self.outage
                .failed(&self.pipeline, "kafka_unavailable", reason, 0);
        } else {
            tracing::warn!(pipeline = %self.pipeline, error = reason, "Kafka does not answer: the pipeline waits while librdkafka reconnects");
            self.outage.started(reason, 0);
        }
    }

    fn stats(&self, stats: Statistics) {
        let up = stats
            .brokers
            .values()
            .any(|b| b.nodeid >= 0 && b.state == "UP");
        if up {
            if let Some(ended) = self.outage.ended() {
                tracing::info!(
                    pipeline = %self.pipeline,
                    down_s = ended.lasted.as_secs(),
                    errors = ended.failures,
                    "Kafka answers again: pipeline reading"
                );
            }
        }
        if let Some(topic) = stats.topics.get(&self.topic) {
            for (partition, p) in &topic.partitions {
                if *partition >= 0 && p.consumer_lag >= 0 {
                    self.metrics
                        .set_lag(&self.pipeline, *partition, p.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for PipelineContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            // Whatever is finished is committed before another instance takes over.
            match consumer.commit_consumer_state(CommitMode::Sync) {
                Ok(()) => tracing::info!(pipeline = %self.pipeline, "committed before revoke"),
                Err(e) => {
                    tracing::debug!(pipeline = %self.pipeline, error = %e, "nothing to commit before revoke")
                }
            }
            let revoked = partitions(tpl);
            tracing::info!(pipeline = %self.pipeline, partitions = ?revoked, "partitions revoked");
            for p in &revoked {
                self.metrics.clear_lag(&self.pipeline, *p);
            }
            self.push(RebalanceEvent::Revoked(revoked));
        }
    }

    fn commit_callback(
        &self,
        result: rdkafka::error::KafkaResult<()>,
        offsets: &TopicPartitionList,
    ) {
        if let Err(e) = result {
            tracing::debug!(pipeline = %self.pipeline, error = %e, "offset commit failed");
            return;
        }
        let confirmed = offsets
            .elements()
            .into_iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) if e.error().is_ok() && e.topic() == self.topic => {
                    Some((e.partition(), o))
                }
                _ => None,
            });
        if let Ok(mut commits) = self.commits.lock() {
            commits.extend(confirmed);
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            let assigned = partitions(tpl);
            tracing::info!(pipeline = %self.pipeline, partitions = ?assigned, "partitions assigned");
            self.push(RebalanceEvent::Assigned(assigned));
        }
    }
}

pub type PipelineConsumer = StreamConsumer<PipelineContext>;

fn consumer_config(kafka: &KafkaConfig, pipeline: &PipelineConfig) -> rdkafka::ClientConfig {
    let mut cfg = client_config(kafka);
    // Prefetch bounds: they set the job's memory (also while partitions are paused). A
    // full queue postpones the partition's next fetch by fetch.queue.backoff.ms, 1 s by
    // default, long enough for a small queue to drain and the job to idle: with it, one
    // instance idled about 40% of the time, so the queue refills within 10 ms instead.
    // Measured with the 10 ms backoff, one instance draining 1M records for 25 s: 2 MiB
    // read as fast as 4 MiB (672k vs 650k records) at 50 MB peak RSS instead of 69 MB.
    // Then (issue 18, 300k users records on 8 partitions, grouped writes): a 512 KiB queue
    // and 128 KiB per partition and fetch drained as fast or faster (10.6 s vs 13.6 s,
    // 3.1 vs 3.5 CPU s) at 35 MB peak RSS instead of 51 MB; 512 KiB alone, 40 MB. Fewer
    // bytes a fetch mean more fetches: against a broker far away, raise them in
    // `kafka.properties`. See docs/benchmarks-history.md. The user's `kafka.properties`
    // may override all four.
    for (key, value) in [
        ("queued.max.messages.kbytes", "512"),
        ("max.partition.fetch.bytes", "131072"),
        ("queued.min.messages", "20000"),
        ("fetch.queue.backoff.ms", "10"),
    ] {
        if !kafka.properties.contains_key(key) {
            cfg.set(key, value);
        }
    }
    // The delivery contract: not overridable.
    cfg.set("group.id", pipeline.group_id())
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "2000")
        .set("statistics.interval.ms", "5000");
    cfg
}

/// Creates the consumer and subscribes it to the pipeline's topic.
pub fn subscribe(
    kafka: &KafkaConfig,
    pipeline: &PipelineConfig,
    metrics: Arc<StreamMetrics>,
) -> Result<PipelineConsumer, StreamError> {
    let context = PipelineContext {
        pipeline: pipeline.name.clone(),
        topic: pipeline.topic.clone(),
        events: Mutex::new(Vec::new()),
        commits: Mutex::new(Vec::new()),
        metrics,
        outage: PauseLog::default(),
    };
    let consumer: PipelineConsumer = consumer_config(kafka, pipeline)
        .create_with_context(context)
        .map_err(|e| StreamError::Consumer(e.to_string()))?;
    consumer
        .subscribe(&[&pipeline.topic])
        .map_err(|e| StreamError::Consumer(e.to_string()))?;
    Ok(consumer)
}

/// Where a replay starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    Beginning,
    /// Milliseconds since the epoch: the first record at or after this time.
    Timestamp(i64),
}

/// Commits the group's offsets for every partition of the topic to the replay start. The
/// group must have no running members (stop other `cassflow stream` instances first).
pub async fn reset_offsets(
    kafka: &KafkaConfig,
    pipeline: &PipelineConfig,
    replay: Replay,
) -> Result<(), StreamError> {
    let cfg = consumer_config(kafka, pipeline);
    let topic = pipeline.topic.clone();
    let group = pipeline.group_id();
    let timeout = kafka.request_timeout;
    tokio::task::spawn_blocking(move || {
        let fail = |detail: String| StreamError::Replay {
            group: group.clone(),
            detail,
        };
        let consumer: BaseConsumer = cfg.create().map_err(|e| fail(e.to_string()))?;
        let metadata = consumer
            .fetch_metadata(Some(&topic), timeout)
            .map_err(|e| fail(e.to_string()))?;
        let parts: Vec<i32> = metadata
            .topics()
            .iter()
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        let mut tpl = TopicPartitionList::new();
        for p in &parts {
            let offset = match replay {
                Replay::Beginning => {
                    let (low, _) = consumer
                        .fetch_watermarks(&topic, *p, timeout)
                        .map_err(|e| fail(e.to_string()))?;
                    Offset::Offset(low)
                }
                Replay::Timestamp(ms) => Offset::Offset(ms),
            };
            tpl.add_partition_offset(&topic, *p, offset)
                .map_err(|e| fail(e.to_string()))?;
        }
        if let Replay::Timestamp(_) = replay {
            let found = consumer
                .offsets_for_times(tpl, timeout)
                .map_err(|e| fail(e.to_string()))?;
            tpl = TopicPartitionList::new();
            for e in found.elements() {
                let offset = match e.offset() {
                    Offset::Offset(o) => Offset::Offset(o),
                    // No record at or after the time: start at the end.
                    _ => {
                        let (_, high) = consumer
                            .fetch_watermarks(&topic, e.partition(), timeout)
                            .map_err(|e| fail(e.to_string()))?;
                        Offset::Offset(high)
                    }
                };
                tpl.add_partition_offset(&topic, e.partition(), offset)
                    .map_err(|e| fail(e.to_string()))?;
            }
        }
        consumer.commit(&tpl, CommitMode::Sync).map_err(|e| {
            fail(format!(
                "{e} (fix: stop every `cassflow stream` of this group, then replay)"
            ))
        })?;
        tracing::info!(group = %group, %topic, partitions = parts.len(), ?replay, "offsets reset for replay");
        Ok(())
    })
    .await
    .map_err(|e| StreamError::Consumer(e.to_string()))?
}

/// Waits between two tries of something that failed, growing up to `max`.
pub fn next_backoff(current: Duration, max: Duration) -> Duration {
    (current * 2).min(max)
}
