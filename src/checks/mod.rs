//! Checks a DAG task or a shell can run against the live stack: the stream job's consumer
//! group lag on a topic (`wait_lag` tasks, `cassflow check lag`) and a Cassandra table's
//! row count (`cql_check` tasks, `cassflow check rows`). Each returns a report whose
//! `Display` is one line; nothing here changes Kafka or Cassandra. Transient read errors
//! are tried again within the check's budget ([`transient`]); a missing topic or table, or a
//! server that cannot be reached, fails at once with what to do.

mod transient;

pub use transient::{is_transient_cql, is_transient_kafka};

use crate::config::{CassandraConfig, Config, KafkaConfig, PipelineConfig};
use crate::kafka::client_config;
use crate::kafka::diagnose::LastClientError;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaErrorCode;
use std::fmt;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use transient::{retrying, Failure};

/// The first wait before a check tries a transient failure again.
const FIRST_RETRY: Duration = Duration::from_millis(200);

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    #[error("no pipeline named `{0}` (fix: see `cassflow config` for the configured names)")]
    NoPipeline(String),
    #[error("cannot read the lag of group `{group}` on topic `{topic}`: {detail}")]
    Lag {
        group: String,
        topic: String,
        detail: String,
    },
    #[error("cannot reach Kafka at {bootstrap} to read the lag of group `{group}` on topic `{topic}`: {reason} (fix: start it with `cassflow local start`, or set kafka.bootstrap to a running broker, e.g. CASSFLOW_KAFKA__BOOTSTRAP=127.0.0.1:9092)")]
    KafkaUnreachable {
        bootstrap: String,
        group: String,
        topic: String,
        reason: String,
    },
    #[error("topic `{topic}` does not exist on Kafka at {bootstrap} (fix: `cassflow up` or `cassflow stream --pipeline {pipeline}` creates it, or set the pipeline's `topic` to an existing one)")]
    NoTopic {
        topic: String,
        bootstrap: String,
        pipeline: String,
    },
    #[error("table {table} does not exist: {detail} (fix: `cassflow up` or `cassflow stream` creates it (a `json` pipeline only with [pipelines.create_table]), or set the pipeline's `keyspace` and `table` to an existing one)")]
    NoTable { table: String, detail: String },
    #[error("{last} after waiting {waited:?}")]
    LagTimeout { last: LagReport, waited: Duration },
    #[error("`{0}` is not a table name cassflow checks (use lower-case letters, digits, `_`)")]
    BadName(String),
    #[error(transparent)]
    Cassandra(Box<crate::cassandra::CassandraError>),
    #[error("cannot count the rows of {table}: {detail}")]
    Count { table: String, detail: String },
    #[error("{table} has {count} rows, fewer than the {min} required")]
    TooFewRows { table: String, count: u64, min: u64 },
    #[error("cancelled")]
    Cancelled,
}

/// The pipeline named `name`, or the default one.
pub fn pipeline<'a>(
    config: &'a Config,
    name: Option<&str>,
) -> Result<&'a PipelineConfig, CheckError> {
    match name {
        None => Ok(config.default_pipeline()),
        Some(n) => config
            .pipelines
            .iter()
            .find(|p| p.name == n)
            .ok_or_else(|| CheckError::NoPipeline(n.into())),
    }
}

/// The lag of one partition: messages after the group's committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    pub partition: i32,
    pub high_watermark: i64,
    /// None when the group has committed nothing there (lag = every retained message).
    pub committed: Option<i64>,
    pub lag: i64,
}

/// A consumer group's lag on a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LagReport {
    pub group: String,
    pub topic: String,
    pub partitions: Vec<PartitionLag>,
}

impl LagReport {
    pub fn total(&self) -> i64 {
        self.partitions.iter().map(|p| p.lag).sum()
    }
}

impl fmt::Display for LagReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "lag of group `{}` on topic `{}`: {} message(s) over {} partition(s)",
            self.group,
            self.topic,
            self.total(),
            self.partitions.len()
        )
    }
}

/// Reads the group's committed offsets and the topic's watermarks, trying transient
/// failures again within `kafka.request_timeout`.
pub async fn consumer_lag(
    kafka: &KafkaConfig,
    pipeline: &PipelineConfig,
) -> Result<LagReport, CheckError> {
    retrying(kafka.request_timeout, FIRST_RETRY, || {
        lag_once(kafka.clone(), pipeline.clone())
    })
    .await
}

/// One try of [`consumer_lag`].
async fn lag_once(kafka: KafkaConfig, pipeline: PipelineConfig) -> Result<LagReport, Failure> {
    let mut cfg = client_config(&kafka);
    cfg.set("group.id", pipeline.group_id())
        .set("enable.auto.commit", "false");
    let (group, topic) = (pipeline.group_id(), pipeline.topic.clone());
    let timeout = kafka.request_timeout;
    let on_join_error = pipeline.clone();
    let joined = tokio::task::spawn_blocking(move || {
        // librdkafka's own log lines go to debug through this context; the reason of a
        // refused connection is kept for the one error line.
        let consumer: BaseConsumer<LastClientError> = cfg
            .create_with_context(LastClientError::default())
            .map_err(|e| Failure::permanent(lag_error(&pipeline, e.to_string())))?;
        let failed = |e: KafkaError| {
            let code = e.rdkafka_error_code();
            let (unknown_topic, transient) = match code {
                Some(RDKafkaErrorCode::UnknownTopicOrPartition) => (true, false),
                Some(c) => (false, is_transient_kafka(c)),
                None => (false, false),
            };
            let unreachable = matches!(
                code,
                Some(
                    RDKafkaErrorCode::BrokerTransportFailure
                        | RDKafkaErrorCode::AllBrokersDown
                        | RDKafkaErrorCode::Resolve
                        | RDKafkaErrorCode::OperationTimedOut
                )
            );
            if unreachable {
                // The refused connection's reason reaches the context when polled.
                for _ in 0..5 {
                    if consumer.context().get().is_some() {
                        break;
                    }
                    let _ = consumer.poll(Duration::from_millis(100));
                }
            }
            let error = if unknown_topic {
                no_topic(&kafka, &pipeline)
            } else if unreachable {
                CheckError::KafkaUnreachable {
                    bootstrap: kafka.bootstrap.clone(),
                    group: pipeline.group_id(),
                    topic: pipeline.topic.clone(),
                    reason: consumer.context().get().unwrap_or_else(|| e.to_string()),
                }
            } else {
                lag_error(&pipeline, e.to_string())
            };
            Failure { error, transient }
        };
        // Not subscribed: reading committed offsets does not join the group.
        let metadata = consumer
            .fetch_metadata(Some(&topic), timeout)
            .map_err(failed)?;
        let Some(t) = metadata.topics().iter().find(|t| t.name() == topic) else {
            return Err(Failure::permanent(no_topic(&kafka, &pipeline)));
        };
        if let Some(e) = t.error() {
            return Err(failed(KafkaError::MetadataFetch(e.into())));
        }
        let mut tpl = TopicPartitionList::new();
        for p in t.partitions() {
            tpl.add_partition(&topic, p.id());
        }
        let committed = consumer.committed_offsets(tpl, timeout).map_err(failed)?;
        let mut partitions = Vec::new();
        for e in committed.elements() {
            let (low, high) = consumer
                .fetch_watermarks(&topic, e.partition(), timeout)
                .map_err(failed)?;
            let committed = match e.offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            };
            let lag = (high - committed.unwrap_or(low).max(low)).max(0);
            partitions.push(PartitionLag {
                partition: e.partition(),
                high_watermark: high,
                committed,
                lag,
            });
        }
        partitions.sort_by_key(|p| p.partition);
        Ok(LagReport {
            group,
            topic,
            partitions,
        })
    })
    .await;
    match joined {
        Ok(result) => result,
        Err(e) => Err(Failure::permanent(lag_error(&on_join_error, e.to_string()))),
    }
}

fn lag_error(pipeline: &PipelineConfig, detail: String) -> CheckError {
    CheckError::Lag {
        group: pipeline.group_id(),
        topic: pipeline.topic.clone(),
        detail,
    }
}

fn no_topic(kafka: &KafkaConfig, pipeline: &PipelineConfig) -> CheckError {
    CheckError::NoTopic {
        topic: pipeline.topic.clone(),
        bootstrap: kafka.bootstrap.clone(),
        pipeline: pipeline.name.clone(),
    }
}

/// Polls the lag until it is zero; fails after `timeout` with the last report.
/// `progress` sees every report (e.g. to log it).
pub async fn wait_for_zero_lag(
    kafka: &KafkaConfig,
    pipeline: &PipelineConfig,
    timeout: Duration,
    poll: Duration,
    cancel: &CancellationToken,
    mut progress: impl FnMut(&LagReport),
) -> Result<LagReport, CheckError> {
    let started = tokio::time::Instant::now();
    loop {
        let report = consumer_lag(kafka, pipeline).await?;
        progress(&report);
        if report.total() == 0 {
            return Ok(report);
        }
        let waited = started.elapsed();
        if waited >= timeout {
            return Err(CheckError::LagTimeout {
                last: report,
                waited,
            });
        }
        tokio::select! {
            _ = cancel.cancelled() => return Err(CheckError::Cancelled),
            _ = tokio::time::sleep(poll.min(timeout - waited)) => {}
        }
    }
}

/// Rows in `keyspace.table` (a full count: meant for checks, not for huge tables).
pub async fn row_count(
    cassandra: &CassandraConfig,
    keyspace: &str,
    table: &str,
) -> Result<u64, CheckError> {
    for name in [keyspace, table] {
        let ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !ok {
            return Err(CheckError::BadName(name.into()));
        }
    }
    let full = format!("{keyspace}.{table}");
    let session = crate::cassandra::connect(cassandra)
        .await
        .map_err(|e| CheckError::Cassandra(Box::new(e)))?;
    let cql = format!("SELECT COUNT(*) FROM \"{keyspace}\".\"{table}\"");
    let session = &session;
    retrying(cassandra.request_timeout, FIRST_RETRY, || {
        let (cql, full) = (cql.clone(), full.clone());
        async move {
            let count_fail = |detail: String| {
                Failure::permanent(CheckError::Count {
                    table: full.clone(),
                    detail,
                })
            };
            let result = session.query_unpaged(cql, &[]).await.map_err(|e| {
                let missing = missing_schema(&e);
                Failure {
                    transient: is_transient_cql(&e),
                    error: match missing {
                        Some(detail) => CheckError::NoTable {
                            table: full.clone(),
                            detail,
                        },
                        None => CheckError::Count {
                            table: full.clone(),
                            detail: e.to_string(),
                        },
                    },
                }
            })?;
            let rows = result
                .into_rows_result()
                .map_err(|e| count_fail(e.to_string()))?;
            let (n,): (i64,) = rows.single_row().map_err(|e| count_fail(e.to_string()))?;
            Ok(n.max(0) as u64)
        }
    })
    .await
}

/// The server's words when a query names a keyspace or table that does not exist
/// (`keyspace spark_streams does not exist`, `unconfigured table created_users`).
fn missing_schema(error: &scylla::errors::ExecutionError) -> Option<String> {
    use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
    match error {
        ExecutionError::LastAttemptError(RequestAttemptError::DbError(DbError::Invalid, msg))
            if msg.contains("does not exist") || msg.contains("unconfigured table") =>
        {
            Some(msg.clone())
        }
        _ => None,
    }
}

/// Fails unless `keyspace.table` has at least `min` rows; returns the count.
pub async fn check_rows(
    cassandra: &CassandraConfig,
    keyspace: &str,
    table: &str,
    min: u64,
) -> Result<u64, CheckError> {
    let count = row_count(cassandra, keyspace, table).await?;
    if count < min {
        return Err(CheckError::TooFewRows {
            table: format!("{keyspace}.{table}"),
            count,
            min,
        });
    }
    Ok(count)
}
