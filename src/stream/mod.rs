//! The stream job (`cassflow stream`): each pipeline's Kafka topic into its Cassandra table,
//! at least once, with dead letters for what cannot be written and pauses for outages.
//!
//! Per pipeline, one consumer feeds a bounded set of in-flight records (`max_in_flight`).
//! Each record ([`process`]) is decoded and converted ([`convert`]), then upserted ([`sink`]) with retries
//! while Cassandra is unavailable, or dead-lettered ([`dead_letter`]) if it can never be
//! written. Its offset becomes committable only when it and every record before it in its
//! partition are finished ([`offsets`]). During an outage the partitions are paused, so
//! memory stays bounded while the consumer keeps its group membership.

pub mod batch;
pub mod consumer;
pub mod convert;
pub mod custom_query;
pub mod dead_letter;
pub mod intake;
pub mod mapping;
pub mod metrics;
pub mod offsets;
pub mod pause_log;
pub mod plan;
mod process;
pub mod retry;
pub mod sink;
pub mod statement;
pub mod status;
pub mod write_time;

use crate::cassandra::{self, schema};
use crate::config::{Config, PipelineConfig, StreamConfig};
use consumer::{PipelineConsumer, RebalanceEvent, Replay};
use dead_letter::DeadLetterQueue;
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use intake::Intake;
use metrics::PipelineMetrics;
use offsets::{Committable, OffsetTracker, Ticket};
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use retry::Progress;
use sink::SinkWriter;
use status::{PauseReason, State};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    #[error("Kafka consumer: {0}")]
    Consumer(String),
    #[error(transparent)]
    Kafka(Box<crate::kafka::KafkaError>),
    #[error(transparent)]
    Cassandra(Box<crate::cassandra::CassandraError>),
    #[error("table {table}: {detail}")]
    Schema { table: String, detail: String },
    #[error("cannot prepare `{cql}`: {detail}")]
    Prepare { cql: String, detail: String },
    #[error("{key}: {detail}")]
    Query { key: String, detail: String },
    #[error("cannot reset offsets of group `{group}`: {detail}")]
    Replay { group: String, detail: String },
    #[error(
        "pipeline `{pipeline}` stopped: the record at {record} cannot be dead-lettered: {source}"
    )]
    DeadLetter {
        pipeline: String,
        /// topic/partition/offset of the record (it is not committed: read again on restart).
        record: String,
        #[source]
        source: dead_letter::SendError,
    },
    #[error("{}", describe_failures(.0))]
    NoPipelineRuns(Vec<PipelineFailure>),
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
}

/// A pipeline that could not start, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineFailure {
    pub pipeline: String,
    pub error: String,
    /// It ran, then stopped by itself (its error names it); otherwise it never started.
    pub stopped_running: bool,
}

fn describe_failures(failures: &[PipelineFailure]) -> String {
    let each: Vec<String> = failures
        .iter()
        .map(|f| match f.stopped_running {
            true => f.error.clone(),
            false => format!("pipeline `{}` cannot start: {}", f.pipeline, f.error),
        })
        .collect();
    match each.len() {
        1 => each.join(""),
        _ => format!("no pipeline could start: {}", each.join("; ")),
    }
}

impl StreamError {
    /// The pipeline ran, then stopped by itself (as opposed to: it could not start).
    pub fn stopped_running(&self) -> bool {
        matches!(self, StreamError::DeadLetter { .. })
    }
}

// Boxed: the drivers' errors are large, and this error travels through every `?`.
impl From<crate::kafka::KafkaError> for StreamError {
    fn from(e: crate::kafka::KafkaError) -> Self {
        StreamError::Kafka(Box::new(e))
    }
}

impl From<crate::cassandra::CassandraError> for StreamError {
    fn from(e: crate::cassandra::CassandraError) -> Self {
        StreamError::Cassandra(Box::new(e))
    }
}

/// What one pipeline did before it stopped.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PipelineSummary {
    pub pipeline: String,
    pub consumed: u64,
    pub written: u64,
    pub dead_lettered: u64,
    /// Records still in flight when the shutdown timeout ran out (read again on restart).
    pub abandoned: usize,
    /// Messages received but not started when shutdown came (read again on restart).
    pub unstarted: usize,
    /// Why the pipeline could not start (it then did nothing; the others ran), or why it
    /// stopped by itself; in words for the summary line.
    pub failed: Option<String>,
}

/// Runs every configured pipeline until `shutdown` is cancelled. A pipeline that cannot
/// start is reported at once (log, `/health`, metrics) while the others keep running; its
/// summary says why. Fails only when no pipeline could start.
pub async fn run(
    config: &Config,
    replay: Option<Replay>,
    shutdown: CancellationToken,
) -> Result<Vec<PipelineSummary>, StreamError> {
    let jobs = config.pipelines.iter().map(|p| {
        let config = config.clone();
        let pipeline = p.clone();
        let shutdown = shutdown.clone();
        async move { run_pipeline(&config, &pipeline, replay, shutdown).await }
    });
    let results = futures::future::join_all(jobs).await;
    let mut summaries = Vec::with_capacity(results.len());
    let mut failures = Vec::new();
    for (pipeline, result) in config.pipelines.iter().zip(results) {
        match result {
            Ok(summary) => summaries.push(summary),
            Err(e) => failures.push(PipelineFailure {
                pipeline: pipeline.name.clone(),
                stopped_running: e.stopped_running(),
                error: e.to_string(),
            }),
        }
    }
    if summaries.is_empty() && !failures.is_empty() {
        return Err(StreamError::NoPipelineRuns(failures));
    }
    summaries.extend(failures.into_iter().map(|f| PipelineSummary {
        pipeline: f.pipeline,
        failed: Some(match f.stopped_running {
            true => f.error,
            false => format!("did not start: {}", f.error),
        }),
        ..Default::default()
    }));
    Ok(summaries)
}

/// Waits for Cassandra, logging at most every few seconds, until it answers or shutdown;
/// an error waiting cannot cure (a rejected login, an untrusted certificate) stops it.
async fn connect_patiently(
    config: &Config,
    shutdown: &CancellationToken,
) -> Result<Option<scylla::client::session::Session>, StreamError> {
    let mut backoff = config.stream.retry_initial_backoff;
    let mut last_log = None::<Instant>;
    loop {
        match cassandra::connect(&config.cassandra).await {
            Ok(session) => return Ok(Some(session)),
            Err(e) if e.is_permanent() => return Err(StreamError::Cassandra(Box::new(e))),
            Err(e) => {
                if last_log.is_none_or(|t| t.elapsed() > Duration::from_secs(5)) {
                    tracing::warn!(error = %e, "waiting for Cassandra");
                    last_log = Some(Instant::now());
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(None),
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = consumer::next_backoff(backoff, config.stream.retry_max_backoff);
    }
}

/// Everything a record's task needs, shared.
struct Shared {
    pipeline: PipelineConfig,
    stream: StreamConfig,
    sink: Arc<SinkWriter>,
    dlq: DeadLetterQueue,
    /// The pipeline's own series.
    metrics: PipelineMetrics,
    /// Set while the partitions should be paused (an outage, or a pipeline-wide failure);
    /// cleared by a successful write.
    outage: AtomicBool,
    /// Why the pipeline is paused ([`PauseReason::code`]), 0 while it is not.
    pause: AtomicU8,
    /// Successful writes, against which a failing record's retries are judged.
    progress: Progress,
    /// A failing record asks for one more message to be taken, even past the byte budget,
    /// so that its failures can be judged against other writes ([`PROBE_EVERY`]).
    probe: AtomicBool,
    /// The Cassandra role the job logs in as, for the fix of a missing permission.
    role: String,
    /// This pipeline's stop signal: the job's shutdown, or [`Shared::fail`].
    shutdown: CancellationToken,
    /// Why the pipeline stopped by itself, if it did.
    failure: std::sync::Mutex<Option<StreamError>>,
    /// The current pause's failures, for its periodic summary and its end.
    pause_log: pause_log::PauseLog,
    /// Where the schemas of `avro`, `protobuf` and `json_schema` records come from.
    registry: Option<Arc<crate::registry::Registry>>,
}

impl Shared {
    /// Stops this pipeline (its records in flight finish, the rest is read again on
    /// restart) and keeps the first reason for `run_pipeline` to return.
    fn fail(&self, error: StreamError) {
        tracing::error!(pipeline = %self.pipeline.name, error = %error, "pipeline stopped");
        metrics::note_error(&self.pipeline.name, &error.to_string());
        if let Ok(mut failure) = self.failure.lock() {
            failure.get_or_insert(error);
        }
        self.shutdown.cancel();
    }
}

/// A record that fails while nothing else is written probes every this many tries, when
/// write slots are free: it lifts the pause so other records show whether Cassandra is
/// down (they fail too and pause again) or only this record fails (they are written).
const PROBE_EVERY: u32 = 5;

impl Shared {
    /// Pauses the partitions for `reason` and, when the reason changes, says why (log,
    /// status, last error). An outage never replaces a pipeline-wide reason.
    fn pause_for(&self, reason: PauseReason, detail: &str) {
        self.outage.store(true, Ordering::Relaxed);
        let code = reason.code();
        let before = if reason == PauseReason::CassandraUnavailable {
            match self
                .pause
                .compare_exchange(0, code, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(before) | Err(before) => before,
            }
        } else {
            self.pause.swap(code, Ordering::Relaxed)
        };
        let waiting = u64::try_from(self.metrics.in_flight.get()).unwrap_or(0);
        if before != 0 && (before == code || reason == PauseReason::CassandraUnavailable) {
            self.pause_log
                .failed(&self.pipeline.name, reason.label(), detail, waiting);
            return;
        }
        self.pause_log.started(detail, waiting);
        let name = &self.pipeline.name;
        let table = format!("{}.{}", self.pipeline.keyspace, self.pipeline.table);
        let said = match reason {
            PauseReason::CassandraUnavailable => {
                tracing::warn!(pipeline = %name, %table, error = detail, "Cassandra writes fail: pipeline paused until they succeed");
                format!("paused, Cassandra writes fail: {detail}")
            }
            PauseReason::Unauthorized => {
                let fix = format!(
                    "grant the permission, e.g. `GRANT MODIFY ON TABLE {table} TO {}`; the pipeline resumes by itself",
                    self.role
                );
                tracing::error!(pipeline = %name, %table, error = detail, fix = %fix, "Cassandra refuses the pipeline's writes: pipeline paused, nothing is dead-lettered");
                format!("paused, Cassandra refuses writes to {table}: {detail} (fix: {fix})")
            }
            PauseReason::RegistryUnavailable => {
                tracing::warn!(pipeline = %name, error = detail, "the schema registry fails: pipeline paused until it answers");
                format!("paused, the schema registry fails: {detail}")
            }
            PauseReason::Schema => {
                let fix = "create the table or restore its columns; the pipeline resumes by itself";
                tracing::error!(pipeline = %name, %table, error = detail, fix, "table cannot be written: pipeline paused, nothing is dead-lettered");
                format!("paused, table {table} cannot be written: {detail} (fix: {fix})")
            }
        };
        metrics::note_error(name, &said);
        status::set(name, State::Paused, Some(reason), Some(said));
    }

    /// A write succeeded: counts it, and resumes a paused pipeline.
    fn write_succeeded(&self) {
        self.progress.record_success();
        self.outage.store(false, Ordering::Relaxed);
        if self.pause.load(Ordering::Relaxed) != 0 {
            let before = self.pause.swap(0, Ordering::Relaxed);
            if let Some(reason) = PauseReason::from_code(before) {
                let ended = self.pause_log.ended();
                tracing::info!(
                    pipeline = %self.pipeline.name,
                    reason = reason.label(),
                    paused_s = ended.as_ref().map(|e| e.lasted.as_secs()),
                    failures = ended.as_ref().map(|e| e.failures),
                    records_waited = ended.as_ref().map(|e| e.waiting),
                    "writes succeed again: pipeline running"
                );
                status::set(&self.pipeline.name, State::Running, None, None);
            }
        }
    }
}

/// How a record finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Written,
    DeadLettered,
    /// Shutdown came before it could be finished; it is not committed.
    Abandoned,
}

/// Sends a record's [`Done`] when its task ends, however it ends.
struct DoneReport {
    done: mpsc::UnboundedSender<Done>,
    ticket: Ticket,
    cost: usize,
    outcome: Outcome,
    shared: Arc<Shared>,
    /// Freed before the report is sent, so the job can start the next record at once.
    permit: Option<OwnedSemaphorePermit>,
}

impl Drop for DoneReport {
    fn drop(&mut self) {
        self.shared.metrics.in_flight.dec();
        drop(self.permit.take());
        if std::thread::panicking() {
            tracing::error!(pipeline = %self.shared.pipeline.name, partition = self.ticket.partition, offset = self.ticket.offset, "processing a record panicked: the record is left uncommitted and read again on restart");
        }
        let _ = self.done.send(Done {
            ticket: self.ticket,
            outcome: self.outcome,
            cost: self.cost,
        });
    }
}

struct Done {
    ticket: Ticket,
    outcome: Outcome,
    /// The bytes the record held ([`intake::message_cost`]).
    cost: usize,
}

/// Runs one pipeline until `shutdown`. If it cannot start, says so at once (an error log
/// with the pipeline's name, its status, its last error) and returns the error.
pub async fn run_pipeline(
    config: &Config,
    pipeline: &PipelineConfig,
    replay: Option<Replay>,
    shutdown: CancellationToken,
) -> Result<PipelineSummary, StreamError> {
    status::set(&pipeline.name, State::Starting, None, None);
    let result = start_and_run(config, pipeline, replay, shutdown).await;
    match &result {
        Ok(_) => status::set(&pipeline.name, State::Stopped, None, None),
        Err(e) => {
            let what = match e.stopped_running() {
                true => "stopped",
                false => "cannot start",
            };
            let table = format!("{}.{}", pipeline.keyspace, pipeline.table);
            if config.pipelines.len() == 1 && !e.stopped_running() {
                // The command's own error line says it, once.
                tracing::debug!(pipeline = %pipeline.name, error = %e, "pipeline cannot start");
            } else {
                let others = match config.pipelines.len() {
                    1 => "",
                    _ => "; the other pipelines keep running",
                };
                tracing::error!(
                    pipeline = %pipeline.name,
                    topic = %pipeline.topic,
                    %table,
                    error = %e,
                    "pipeline {what}{others}"
                );
            }
            let said = format!("{what}: {e}");
            metrics::note_error(&pipeline.name, &said);
            status::set(&pipeline.name, State::Failed, None, Some(said));
        }
    }
    result
}

async fn start_and_run(
    config: &Config,
    pipeline: &PipelineConfig,
    replay: Option<Replay>,
    shutdown: CancellationToken,
) -> Result<PipelineSummary, StreamError> {
    let mut summary = PipelineSummary {
        pipeline: pipeline.name.clone(),
        ..Default::default()
    };
    crate::kafka::admin::ensure_topic(
        &config.kafka,
        &pipeline.topic,
        pipeline.partitions,
        pipeline.topic_replication_factor(),
    )
    .await?;
    // After the source topic: the dead-letter topic is sized to fit its messages.
    let dlq = DeadLetterQueue::open(&config.kafka, pipeline).await?;
    let Some(session) = connect_patiently(config, &shutdown).await? else {
        return Ok(summary);
    };
    schema::ensure_pipeline_table(&session, &config.cassandra, pipeline).await?;
    let config_key = match config
        .pipelines
        .iter()
        .position(|p| p.name == pipeline.name)
    {
        Some(i) => format!("pipelines[{i}]"),
        None => format!("pipeline `{}`", pipeline.name),
    };
    let sink =
        Arc::new(SinkWriter::open(Arc::new(session), pipeline, &config.stream, &config_key).await?);
    if !sink.current().idempotent {
        let what = match sink.current().counter {
            true => "counter table: an increment",
            false => "a write of a non-frozen list, or a custom query's UPDATE,",
        };
        tracing::warn!(
            pipeline = %pipeline.name,
            table = %format!("{}.{}", pipeline.keyspace, pipeline.table),
            "{what} is not idempotent, so a record read again (a replay, a restart before its offset was committed, a retry after a timeout) applies twice; uncertain retries are counted in cassflow_stream_uncertain_writes_total"
        );
    }
    if let Some(replay) = replay {
        consumer::reset_offsets(&config.kafka, pipeline, replay).await?;
    }
    let needs_registry =
        pipeline.format.uses_registry() || pipeline.key_format.registry_format().is_some();
    let registry = match needs_registry {
        true => Some(Arc::new(crate::registry::Registry::new(
            &config.schema_registry,
        )?)),
        false => None,
    };
    let metrics = metrics::stream_metrics();
    let consumer = consumer::subscribe(&config.kafka, pipeline, metrics.clone())?;
    tracing::info!(
        pipeline = %pipeline.name,
        topic = %pipeline.topic,
        table = %format!("{}.{}", pipeline.keyspace, pipeline.table),
        group = %pipeline.group_id(),
        dead_letters = %dlq.topic(),
        "stream started"
    );
    status::set(&pipeline.name, State::Running, None, None);
    // Stops with the job: `shutdown`, or this token when the job returns first.
    let watching = shutdown.child_token();
    let _stop_watching = watching.clone().drop_guard();
    tokio::spawn(sink.clone().watch(SCHEMA_CHECK_EVERY, watching));
    let shared = Arc::new(Shared {
        pipeline: pipeline.clone(),
        stream: config.stream.clone(),
        sink,
        dlq,
        metrics: metrics.pipeline(&pipeline.name),
        outage: AtomicBool::new(false),
        pause: AtomicU8::new(0),
        progress: Progress::default(),
        probe: AtomicBool::new(false),
        role: config
            .cassandra
            .username
            .clone()
            .unwrap_or_else(|| "<role>".into()),
        shutdown: shutdown.child_token(),
        failure: std::sync::Mutex::new(None),
        pause_log: pause_log::PauseLog::default(),
        registry,
    });
    let mut job = Job {
        shared,
        consumer,
        tracker: OffsetTracker::default(),
        permits: Arc::new(Semaphore::new(config.stream.max_in_flight)),
        paused: false,
        intake: Intake::new(
            config.stream.max_in_flight,
            config.stream.max_in_flight_bytes,
        ),
        kafka_errors: ThrottledLog::default(),
        tasks: tokio::task::JoinSet::new(),
        must_commit: offsets::PendingCommits::default(),
        last_commit_retry: Instant::now(),
        last_settle: Instant::now(),
    };
    job.run(&mut summary).await;
    let failure = job.shared.failure.lock().ok().and_then(|mut f| f.take());
    match failure {
        Some(error) => Err(error),
        None => Ok(summary),
    }
}

/// How often the table's columns are compared with the plan (see [`SinkWriter::watch`]).
const SCHEMA_CHECK_EVERY: Duration = Duration::from_secs(2);

struct Job {
    shared: Arc<Shared>,
    consumer: PipelineConsumer,
    tracker: OffsetTracker,
    permits: Arc<Semaphore>,
    paused: bool,
    /// Messages received but not started yet (waiting for a write slot), and the bytes
    /// they and the records in flight hold.
    intake: Intake<OwnedMessage>,
    kafka_errors: ThrottledLog,
    /// Records' tasks; those still running when the drain gives up are aborted, so a
    /// stopped pipeline leaves nothing retrying behind it.
    tasks: tokio::task::JoinSet<()>,
    /// Rewound offsets not yet confirmed committed (see [`Job::store`]).
    must_commit: offsets::PendingCommits,
    /// When unconfirmed rewinds were last committed again.
    last_commit_retry: Instant,
    /// When the broker's commit confirmations were last read.
    last_settle: Instant,
}

/// The offsets to store after the records of one turn ended: the last of each partition,
/// the tracker's latest word for it (a turn that ends records neither starts any nor
/// applies rebalances, so a partition's offset only rises within it). Committed at once if
/// any of the partition's had to be: never so when records end, today; kept so a later
/// change to the tracker cannot make this drop a needed commit.
#[derive(Default)]
struct Moved(Vec<Committable>);

impl Moved {
    fn add(&mut self, next: Option<Committable>) {
        let Some(next) = next else { return };
        match self.0.iter_mut().find(|m| m.partition == next.partition) {
            Some(m) => {
                m.next = next.next;
                m.commit_now |= next.commit_now;
            }
            None => self.0.push(next),
        }
    }
}

/// The most records one task runs ([`Job::spawn`]): two batches of the default 8 rows,
/// while many records starting at once (after a pause) still spread over the workers.
const RECORDS_PER_TASK: usize = 16;

/// How often the broker's commit confirmations are read (they pile up in the consumer's
/// context until then).
const SETTLE_EVERY: Duration = Duration::from_millis(200);

impl Job {
    async fn run(&mut self, summary: &mut PipelineSummary) {
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
        let format = self.shared.pipeline.format;
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // One waiter for the whole loop: a new one each turn would take the token's lock
        // twice per record (registering and dropping it).
        let shutdown = self.shared.shutdown.clone().cancelled_owned();
        tokio::pin!(shutdown);
        loop {
            self.apply_rebalances();
            self.pause_or_resume();
            // Here, not on the tick's branch, which a busy loop never selects.
            if self.last_settle.elapsed() >= SETTLE_EVERY {
                self.settle_commits();
            }
            let mut started = Vec::new();
            while !self.intake.is_empty() {
                let Ok(permit) = self.permits.clone().try_acquire_owned() else {
                    break;
                };
                if let Some((message, cost)) = self.intake.take_oldest() {
                    started.push(self.start(message, cost, permit, done_tx.clone()));
                }
            }
            self.spawn(started);
            // A probe takes one message even past the byte budget: a record stuck on an
            // error of its own can only be judged against others that are written.
            let may_receive = self.paused
                || self.intake.may_receive()
                || self.shared.probe.load(Ordering::Relaxed);
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                Some(done) = done_rx.recv() => {
                    // A batch's records end together: take them in one turn of the loop,
                    // and store each partition's offset once.
                    let mut moved = Moved::default();
                    moved.add(self.finish(done, summary));
                    while let Ok(done) = done_rx.try_recv() {
                        moved.add(self.finish(done, summary));
                    }
                    for next in moved.0 {
                        self.store(next);
                    }
                }
                received = self.consumer.recv(), if may_receive => match received {
                    Ok(message) => {
                        let message = message.detach();
                        self.shared.probe.store(false, Ordering::Relaxed);
                        // A rebalance served by this recv comes first: the held messages
                        // it drops must not include this one, read after it.
                        self.apply_rebalances();
                        summary.consumed += 1;
                        self.shared.metrics.consumed.inc();
                        let cost = intake::message_cost(&message, format);
                        self.intake.hold(message, cost);
                    }
                    Err(e) if self.consumer.context().kafka_down() => {
                        // Said by the consumer's outage log, once.
                        tracing::debug!(pipeline = %self.shared.pipeline.name, error = %e, "Kafka consumer error");
                    }
                    Err(e) => self.kafka_errors.warn(&self.shared.pipeline.name, &e.to_string()),
                },
                _ = tick.tick() => {}
            }
        }
        self.drain(done_rx, summary).await;
    }

    fn apply_rebalances(&mut self) {
        for event in self.consumer.context().take_events() {
            match event {
                RebalanceEvent::Revoked(parts) => {
                    for p in &parts {
                        self.tracker.revoke(*p);
                        self.must_commit.revoke(*p);
                    }
                    // Held messages of revoked partitions are read again by their owner,
                    // even when that is us again (assigned in the same batch of events:
                    // the current assignment cannot tell old messages from new).
                    self.intake.revoke(&parts);
                }
                RebalanceEvent::Assigned(_) => {
                    if self.paused {
                        // New partitions arrive unpaused; keep the whole assignment paused.
                        self.set_paused(true);
                    }
                }
            }
        }
    }

    fn pause_or_resume(&mut self) {
        let outage = self.shared.outage.load(Ordering::Relaxed);
        if outage && !self.paused {
            // The pipeline's own pause line (`Shared::pause_for`) says why, once.
            tracing::debug!(pipeline = %self.shared.pipeline.name, "pausing partitions until writes succeed");
            self.set_paused(true);
        } else if !outage && self.paused {
            tracing::debug!(pipeline = %self.shared.pipeline.name, "resuming partitions");
            self.set_paused(false);
        }
    }

    fn set_paused(&mut self, pause: bool) {
        let Ok(assignment) = self.consumer.assignment() else {
            return;
        };
        let result = if pause {
            self.consumer.pause(&assignment)
        } else {
            self.consumer.resume(&assignment)
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, pause, "cannot change partition pause state");
            return;
        }
        self.paused = pause;
        self.shared.metrics.paused.set(i64::from(pause));
    }

    /// Begins a record: its ticket, and the work that processes it and reports it done.
    fn start(
        &mut self,
        message: OwnedMessage,
        cost: usize,
        permit: OwnedSemaphorePermit,
        done: mpsc::UnboundedSender<Done>,
    ) -> impl Future<Output = ()> + Send + 'static {
        let (ticket, moved) = self.tracker.begin(message.partition(), message.offset());
        if let Some(moved) = moved {
            self.store(moved);
        }
        let shared = self.shared.clone();
        shared.metrics.in_flight.inc();
        // Reports the record however its work ends: done, panicked, or dropped (aborted at
        // shutdown, even before it first ran, hence made here and not inside the work): its
        // bytes and slot are released; unfinished, it stays uncommitted (read again on
        // restart).
        let report = DoneReport {
            done,
            ticket,
            cost,
            outcome: Outcome::Abandoned,
            shared: shared.clone(),
            permit: Some(permit),
        };
        async move {
            // The whole report moves in (a closure would capture only the field it sets).
            let mut report = report;
            // Boxed: the record's work is a future of kilobytes; what its task holds
            // stays small, so spawning it and ending it copy little.
            report.outcome = Box::pin(process::process(&shared, &message)).await;
        }
    }

    /// Runs the records started in one turn of the loop as tasks of up to
    /// [`RECORDS_PER_TASK`] records, each record on its own within (they wait, retry and
    /// end apart; a panic ends only its own record). With rows written in batches, a
    /// batch's answer frees its rows' slots together and as many records start in the
    /// next turn: a task each cost ~6% of the process's CPU samples in spawning and
    /// reaping (perf, issue 18).
    fn spawn<F: Future<Output = ()> + Send + 'static>(&mut self, records: Vec<F>) {
        let mut records = records.into_iter().peekable();
        while records.peek().is_some() {
            let mut running: FuturesUnordered<_> = records
                .by_ref()
                .take(RECORDS_PER_TASK)
                .map(|record| AssertUnwindSafe(record).catch_unwind())
                .collect();
            self.tasks
                .spawn(async move { while running.next().await.is_some() {} });
        }
    }

    /// Ends a record; returns its partition's offset to store when it moved.
    fn finish(&mut self, done: Done, summary: &mut PipelineSummary) -> Option<Committable> {
        self.intake.release(done.cost);
        while self.tasks.try_join_next().is_some() {}
        match done.outcome {
            Outcome::Written => summary.written += 1,
            Outcome::DeadLettered => summary.dead_lettered += 1,
            Outcome::Abandoned => return None,
        }
        let next = self.tracker.finish(done.ticket);
        // Paused, and the last record in flight ended without a write that succeeded (it was
        // dead-lettered): nothing is left to lift the pause, so let new records probe. If
        // the cause persists, their writes pause the pipeline again.
        if self.tracker.in_flight() == 0 && self.shared.outage.load(Ordering::Relaxed) {
            tracing::info!(pipeline = %self.shared.pipeline.name, "no record in flight while paused: resuming to try again");
            self.shared.outage.store(false, Ordering::Relaxed);
        }
        next
    }

    /// Stores a partition's committable offset for the next (auto-)commit. One that may be
    /// below the committed offset (a rewind, the start of an assignment) is also committed
    /// explicitly: librdkafka commits a stored offset only when it is above the committed
    /// one, and a restart must not skip what is read again. That commit is asynchronous (the
    /// loop never waits on Kafka: without a group coordinator a commit waits up to
    /// `session.timeout.ms`) and sent again, with the partition's latest stored offset, until
    /// the broker confirms it ([`Job::settle_commits`]).
    fn store(&mut self, next: Committable) {
        let mut tpl = TopicPartitionList::new();
        let stored = tpl
            .add_partition_offset(
                &self.shared.pipeline.topic,
                next.partition,
                Offset::Offset(next.next),
            )
            .and_then(|()| self.consumer.store_offsets(&tpl));
        if let Err(e) = stored {
            // The partition was revoked meanwhile: its new owner reads it again.
            tracing::debug!(partition = next.partition, next = next.next, error = %e, "offset not stored");
            return;
        }
        if self
            .must_commit
            .stored(next.partition, next.next, next.commit_now)
        {
            tracing::debug!(pipeline = %self.shared.pipeline.name, partition = next.partition, next = next.next, "committing where reading starts or went back to");
            self.commit_async(&tpl);
        }
    }

    fn commit_async(&self, tpl: &TopicPartitionList) {
        if let Err(e) = self.consumer.commit(tpl, CommitMode::Async) {
            tracing::debug!(pipeline = %self.shared.pipeline.name, error = %e, "cannot send the commit yet; trying again");
        }
    }

    /// Settles the rewinds the broker confirmed, and once a second commits the others again.
    fn settle_commits(&mut self) {
        self.last_settle = Instant::now();
        for (partition, offset) in self.consumer.context().take_commits() {
            self.must_commit.confirmed(partition, offset);
        }
        if self.must_commit.is_empty() || self.last_commit_retry.elapsed() < Duration::from_secs(1)
        {
            return;
        }
        self.last_commit_retry = Instant::now();
        let tpl = self.unconfirmed_commits();
        tracing::debug!(pipeline = %self.shared.pipeline.name, partitions = tpl.count(), "committing unconfirmed rewound offsets again");
        self.commit_async(&tpl);
    }

    /// The rewound offsets not confirmed yet, as a list to commit.
    fn unconfirmed_commits(&self) -> TopicPartitionList {
        let mut tpl = TopicPartitionList::new();
        for (partition, next) in self.must_commit.unconfirmed() {
            let topic = &self.shared.pipeline.topic;
            if let Err(e) = tpl.add_partition_offset(topic, partition, Offset::Offset(next)) {
                tracing::debug!(partition, next, error = %e, "offset not listed for commit");
            }
        }
        tpl
    }

    /// Stops taking messages, lets in-flight records finish (up to the shutdown timeout),
    /// and commits what is finished.
    async fn drain(
        &mut self,
        mut done_rx: mpsc::UnboundedReceiver<Done>,
        summary: &mut PipelineSummary,
    ) {
        let deadline = tokio::time::Instant::now() + self.shared.stream.shutdown_timeout;
        let in_flight = self.tracker.in_flight();
        tracing::info!(pipeline = %self.shared.pipeline.name, in_flight, "stopping: finishing in-flight records");
        while self.tracker.in_flight() > 0 {
            match tokio::time::timeout_at(deadline, done_rx.recv()).await {
                Ok(Some(done)) => {
                    if let Some(next) = self.finish(done, summary) {
                        self.store(next);
                    }
                }
                Ok(None) | Err(_) => break,
            }
        }
        summary.abandoned = self.tracker.in_flight();
        summary.unstarted = self.intake.held();
        // Abandoned records are not committed (read again on restart); stop their retries.
        self.tasks.abort_all();
        // A rewind not confirmed yet: committed once more, waiting for it now.
        for (partition, offset) in self.consumer.context().take_commits() {
            self.must_commit.confirmed(partition, offset);
        }
        let tpl = self.unconfirmed_commits();
        if tpl.count() > 0 {
            if let Err(e) = self.consumer.commit(&tpl, CommitMode::Sync) {
                tracing::warn!(pipeline = %self.shared.pipeline.name, error = %e, "a rewound offset could not be committed: a restart may skip records read again since (fix: replay from the beginning or a time)");
            }
        }
        if let Err(e) = self.consumer.commit_consumer_state(CommitMode::Sync) {
            tracing::debug!(error = %e, "final commit had nothing to commit");
        }
        tracing::info!(
            pipeline = %summary.pipeline,
            consumed = summary.consumed,
            written = summary.written,
            dead_lettered = summary.dead_lettered,
            abandoned = summary.abandoned,
            unstarted = summary.unstarted,
            "stream stopped"
        );
    }
}

/// Logs a repeating error at most every 5 seconds, with how often it happened meanwhile.
#[derive(Default)]
struct ThrottledLog {
    last: Option<Instant>,
    suppressed: u64,
}

impl ThrottledLog {
    fn warn(&mut self, pipeline: &str, error: &str) {
        metrics::note_error(pipeline, &format!("Kafka: {error}"));
        if self
            .last
            .is_none_or(|t| t.elapsed() > Duration::from_secs(5))
        {
            tracing::warn!(
                pipeline,
                error,
                repeated = self.suppressed,
                "Kafka consumer error (librdkafka keeps reconnecting)"
            );
            self.last = Some(Instant::now());
            self.suppressed = 0;
        } else {
            self.suppressed += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(partition: i32, next: i64, commit_now: bool) -> Option<Committable> {
        Some(Committable {
            partition,
            next,
            commit_now,
        })
    }

    #[test]
    fn a_turn_stores_each_partitions_last_offset_and_commits_it_if_any_had_to_be() {
        let mut moved = Moved::default();
        for next in [
            at(0, 5, true),
            None,
            at(1, 9, false),
            at(0, 8, false),
            at(1, 12, false),
        ] {
            moved.add(next);
        }
        assert_eq!(
            moved.0,
            [at(0, 8, true).unwrap(), at(1, 12, false).unwrap()]
        );
    }
}
