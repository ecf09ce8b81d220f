//! Producing records to Kafka: `cassflow produce` and the scheduler's `stream_data_from_api`
//! task. Owns the run (topic creation, the source loop, pacing to a rate, stopping on a
//! count, a duration or Ctrl-C, the final flush and summary); the Kafka client itself is
//! [`producer::RecordProducer`], the users come from [`crate::source`], the key of a `json`
//! pipeline's line from [`key`]. The users sources (generator, randomuser) write only into
//! a topic a `users` pipeline reads (or one no pipeline reads), never into another table's.

pub mod key;
pub mod producer;

use crate::config::{Config, RecordFormat, SourceKind};
use crate::kafka::admin::ensure_topic;
use crate::kafka::KafkaError;
use crate::registry::users::{ProducedFormat, UsersEncoder};
use crate::registry::{Registry, RegistryError};
use crate::source::stdin::{Line, LineMode, LineReader};
use crate::source::{Source, SourceError};
use indicatif::ProgressBar;
use producer::RecordProducer;
use std::fmt;
use std::time::{Duration, Instant};
use tokio::io::AsyncBufRead;
use tokio_util::sync::CancellationToken;

/// The slowest and fastest rates a run accepts, in records per second.
pub const MIN_RATE: f64 = 0.01;
pub const MAX_RATE: f64 = 10_000_000.0;

/// How many fetches in a row may bring no usable user before a run gives up.
const MAX_EMPTY_BATCHES: u32 = 5;

/// When a run stops (besides cancellation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    /// After this many records.
    Count(u64),
    /// After this long.
    Duration(Duration),
    /// At the end of the input (stdin) or on cancellation.
    Unbounded,
}

/// What to produce, where.
#[derive(Debug, Clone)]
pub struct ProduceRequest {
    pub topic: String,
    pub source: SourceKind,
    pub limit: Limit,
    /// Records per second; as fast as possible when `None`.
    pub rate: Option<f64>,
    /// Stdin lines sent untouched, without a key (no validation).
    pub raw: bool,
    /// What stdin lines are: users records (keyed by id), or a `json` pipeline's objects.
    pub format: RecordFormat,
    /// The key of a `json` line (`produce --pipeline` with the pipeline's `key`).
    pub key: Option<key::KeyPath>,
    /// Users records in a registry's wire format (their schema registered under
    /// `<topic>-value`) instead of JSON.
    pub wire: Option<ProducedFormat>,
}

impl ProduceRequest {
    /// The configured source into the first users pipeline's topic, stopping at `limit`.
    pub fn from_config(config: &Config, limit: Limit) -> Self {
        ProduceRequest {
            topic: config.users_pipeline().topic.clone(),
            source: config.source.kind,
            limit,
            rate: None,
            raw: false,
            format: RecordFormat::Users,
            key: None,
            wire: None,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct ProduceSummary {
    /// The active source: `randomuser`, `generator` or `stdin`.
    pub source: &'static str,
    pub topic: String,
    /// Records Kafka acknowledged.
    pub sent: u64,
    /// Records Kafka did not acknowledge (failed or still undelivered at the flush deadline).
    pub failed: u64,
    /// Input that was reported and skipped: invalid stdin lines, unusable API results.
    pub invalid: u64,
    pub elapsed: Duration,
    /// The first delivery error, if any.
    pub first_error: Option<String>,
}

impl ProduceSummary {
    pub fn records_per_second(&self) -> f64 {
        self.sent as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl fmt::Display for ProduceSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sent {} records to {} in {:.1}s ({:.0} records/s), {} failed, {} invalid skipped (source: {})",
            self.sent,
            self.topic,
            self.elapsed.as_secs_f64(),
            self.records_per_second(),
            self.failed,
            self.invalid,
            self.source
        )
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProduceError {
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The source's error ends with its fix, so what was sent before comes first.
    #[error(
        "{}{source}",
        if *.sent > 0 { format!("after {} records were sent: ", .sent) } else { String::new() }
    )]
    Source {
        #[source]
        source: SourceError,
        sent: u64,
    },
    #[error("cannot read standard input: {0}")]
    Stdin(#[from] std::io::Error),
    #[error("topic `{topic}` is read by pipeline `{pipeline}` (format {format}), and the {kind} source makes users records, which its table does not take (fix: send the pipeline's own JSON lines: `cassflow produce --pipeline {pipeline} --source stdin < records.jsonl`, or produce users into a users pipeline's topic)")]
    NotUsersTopic {
        topic: String,
        pipeline: String,
        format: &'static str,
        kind: &'static str,
    },
}

/// Refuses a users source for a topic that only non-users pipelines read.
fn check_users_topic(config: &Config, request: &ProduceRequest) -> Result<(), ProduceError> {
    let readers: Vec<_> = config
        .pipelines
        .iter()
        .filter(|p| p.topic == request.topic)
        .collect();
    // A pipeline of a registry format reads users records in it by field name.
    let users = readers
        .iter()
        .any(|p| p.format == RecordFormat::Users || p.format.uses_registry());
    match readers.first() {
        Some(p) if !users => Err(ProduceError::NotUsersTopic {
            topic: request.topic.clone(),
            pipeline: p.name.clone(),
            format: p.format.name(),
            kind: match request.source {
                SourceKind::Generator => "generator",
                SourceKind::Randomuser => "randomuser",
                SourceKind::Auto => "auto (randomuser or generator)",
                SourceKind::Stdin => "users",
            },
        }),
        _ => Ok(()),
    }
}

/// The seed's Airflow task: users from the configured source into the default pipeline's
/// topic for `duration` (60 s in the seed), stopping early when `cancel` fires.
pub async fn stream_data_from_api(
    config: &Config,
    duration: Duration,
    cancel: &CancellationToken,
) -> Result<ProduceSummary, ProduceError> {
    let request = ProduceRequest::from_config(config, Limit::Duration(duration));
    produce(config, &request, &ProgressBar::hidden(), cancel).await
}

/// Runs one produce request. Stdin sources read the process's standard input.
pub async fn produce(
    config: &Config,
    request: &ProduceRequest,
    progress: &ProgressBar,
    cancel: &CancellationToken,
) -> Result<ProduceSummary, ProduceError> {
    if request.source == SourceKind::Stdin || request.raw {
        let stdin = tokio::io::BufReader::new(tokio::io::stdin());
        return produce_lines(config, request, stdin, progress, cancel).await;
    }
    check_users_topic(config, request)?;
    let mut run = Run::start(config, request).await?;
    let mut source = match Source::open(&config.source, request.source).await {
        Ok(s) => s,
        Err(source) => return Err(ProduceError::Source { source, sent: 0 }),
    };
    run.source = source.name();
    progress.set_message(source.name());
    let batch_size = match &source {
        Source::RandomUser(_) => config.source.batch_size,
        Source::Generator(_) => 1000,
    };
    let mut empty_batches = 0;
    'fetch: while !run.done(cancel) {
        let want = match request.limit {
            Limit::Count(n) => (n - run.attempted).min(u64::from(batch_size)) as u32,
            _ => batch_size,
        };
        let batch = tokio::select! {
            batch = source.next_batch(want) => batch,
            _ = cancel.cancelled() => break,
        };
        let batch = match batch {
            Ok(b) => b,
            Err(source) => {
                let summary = run.finish().await;
                return Err(ProduceError::Source {
                    source,
                    sent: summary.sent,
                });
            }
        };
        run.invalid += batch.skipped.len() as u64;
        if batch.records.is_empty() {
            // An API answering with nothing usable must not be asked again in a hot loop.
            empty_batches += 1;
            if empty_batches >= MAX_EMPTY_BATCHES {
                let summary = run.finish().await;
                return Err(ProduceError::Source {
                    source: SourceError::NoUsers {
                        fetches: empty_batches,
                    },
                    sent: summary.sent,
                });
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1) * empty_batches) => {}
                _ = cancel.cancelled() => break,
            }
            continue;
        }
        empty_batches = 0;
        for record in &batch.records {
            if run.done(cancel) {
                break 'fetch;
            }
            run.pace(cancel).await;
            run.producer.send(record).await?;
            run.attempted += 1;
            progress.inc(1);
        }
    }
    Ok(run.finish().await)
}

/// Produces JSON lines from `input`: validated records keyed by id, or (raw) untouched
/// lines without a key. Invalid lines are reported with their number and skipped.
pub async fn produce_lines<R: AsyncBufRead + Unpin>(
    config: &Config,
    request: &ProduceRequest,
    input: R,
    progress: &ProgressBar,
    cancel: &CancellationToken,
) -> Result<ProduceSummary, ProduceError> {
    let mut run = Run::start(config, request).await?;
    run.source = "stdin";
    let mode = match (request.raw, request.format) {
        (true, _) => LineMode::Raw,
        (false, RecordFormat::Json) => LineMode::Json(request.key.clone()),
        (false, _) => LineMode::Users,
    };
    let mut lines = LineReader::with_mode(input, mode);
    while !run.done(cancel) {
        let line = tokio::select! {
            line = lines.next_line() => line?,
            _ = cancel.cancelled() => break,
        };
        match line {
            None => break,
            Some(Line::Invalid { number, error }) => {
                tracing::warn!(
                    line = number,
                    reason = error.reason(),
                    "skipping invalid line {number}: {error}"
                );
                run.invalid += 1;
                continue;
            }
            Some(Line::Record(record)) => {
                run.pace(cancel).await;
                run.producer.send(&record).await?;
            }
            Some(Line::Keyed { key, value }) => {
                run.pace(cancel).await;
                run.producer
                    .send_bytes(key.as_deref(), &value, None)
                    .await?;
            }
            Some(Line::Raw(bytes)) => {
                run.pace(cancel).await;
                run.producer.send_bytes(None, &bytes, None).await?;
            }
        }
        run.attempted += 1;
        progress.inc(1);
    }
    Ok(run.finish().await)
}

/// The state of one run: its producer, limits, pacing and counts.
struct Run<'a> {
    request: &'a ProduceRequest,
    delivery_timeout: Duration,
    producer: RecordProducer,
    source: &'static str,
    started: Instant,
    attempted: u64,
    invalid: u64,
}

impl<'a> Run<'a> {
    /// Creates the topic when missing (never relying on broker auto-creation), with the
    /// partitions of the pipeline that reads it, and opens the producer.
    async fn start(config: &Config, request: &'a ProduceRequest) -> Result<Self, ProduceError> {
        let pipeline = config
            .pipelines
            .iter()
            .find(|p| p.topic == request.topic)
            .unwrap_or_else(|| config.default_pipeline());
        ensure_topic(
            &config.kafka,
            &request.topic,
            pipeline.partitions,
            pipeline.topic_replication_factor(),
        )
        .await?;
        let mut producer = RecordProducer::new(&config.kafka, &config.producer, &request.topic)?;
        if let Some(format) = request.wire {
            let registry = Registry::new(&config.schema_registry)?;
            let subject = format!("{}-value", request.topic);
            let encoder = UsersEncoder::register(&registry, &subject, format).await?;
            tracing::info!(%subject, format = ?format, "registered the users schema");
            producer = producer.with_encoder(encoder);
        }
        Ok(Run {
            request,
            delivery_timeout: config.producer.delivery_timeout,
            producer,
            source: "",
            started: Instant::now(),
            attempted: 0,
            invalid: 0,
        })
    }

    fn done(&self, cancel: &CancellationToken) -> bool {
        cancel.is_cancelled()
            || match self.request.limit {
                Limit::Count(n) => self.attempted >= n,
                Limit::Duration(d) => self.started.elapsed() >= d,
                Limit::Unbounded => false,
            }
    }

    /// Waits until the next record is due at the requested rate (or the run is cancelled).
    async fn pace(&self, cancel: &CancellationToken) {
        let Some(rate) = self
            .request
            .rate
            .filter(|r| (MIN_RATE..=MAX_RATE).contains(r))
        else {
            return;
        };
        let due = Duration::try_from_secs_f64(self.attempted as f64 / rate)
            .ok()
            .and_then(|offset| self.started.checked_add(offset));
        if let Some(due) = due.filter(|due| *due > Instant::now()) {
            tokio::select! {
                _ = tokio::time::sleep_until(due.into()) => {}
                _ = cancel.cancelled() => {}
            }
        }
    }

    /// Waits for every delivery report (up to the delivery timeout) and sums up.
    async fn finish(self) -> ProduceSummary {
        let undelivered = self.producer.flush(self.delivery_timeout).await;
        let counts = self.producer.counts();
        ProduceSummary {
            source: self.source,
            topic: self.request.topic.clone(),
            sent: counts.delivered(),
            failed: counts.failed() + undelivered,
            invalid: self.invalid,
            elapsed: self.started.elapsed(),
            first_error: counts.first_error(),
        }
    }
}
