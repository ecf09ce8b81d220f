//! The bench's child processes (`cassflow bench-worker <spec>`, hidden): work that must be
//! measured apart from the harness, so its memory and CPU are its own.
//! - `Produce`: cassflow's producer sends N generated records (encoded before the clock
//!   starts, as kafka-producer-perf-test's payloads are) and waits for every delivery report.
//! - `Raw`: the ceiling of one process: the same N records inserted straight into
//!   Cassandra by the scylla driver with a prepared statement and a fixed number of writes
//!   in flight, each its own task on the multi-threaded runtime; users generated on a
//!   separate thread; no Kafka. Row by row, or grouped ([`RawGrouping`]): UNLOGGED batches
//!   grouped, filled and bound by the stream job's own code ([`batch::serialize`],
//!   [`batch::group_of`], [`batch::Fill`], [`batch::Serialized`]) under its
//!   `stream.batch_grouping`; a row
//!   that cannot be routed or is larger than a batch, and a group of one row, are plain
//!   writes, as in the stream job.
//!
//! Each prints one JSON line ([`WorkerResult`]) on stdout.

use crate::bench::BenchError;
use crate::cassandra;
use crate::config::{BatchGrouping, CassandraConfig, KafkaConfig, ProducerConfig};
use crate::produce::producer::RecordProducer;
use crate::record::UserRecord;
use crate::registry::users::{ProducedFormat, UsersEncoder};
use crate::source::generator::Generator;
use crate::stream::batch::{self, Serialized};
use scylla::client::session::Session;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;
use scylla_cql_core::serialize::row::SerializedValues;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use uuid::Uuid;

/// What a worker is asked to do.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum WorkerSpec {
    Produce {
        kafka: KafkaConfig,
        producer: ProducerConfig,
        topic: String,
        records: u64,
        seed: String,
        /// Users in this registry format under this schema id instead of JSON.
        #[serde(default)]
        wire: Option<(ProducedFormat, u32)>,
    },
    Raw {
        cassandra: CassandraConfig,
        keyspace: String,
        table: String,
        records: u64,
        seed: String,
        /// Writes in flight: single inserts, or batches when grouped.
        concurrency: usize,
        /// UNLOGGED batches, grouped as the stream job groups, instead of one insert per row.
        #[serde(default)]
        grouping: Option<RawGrouping>,
    },
}

/// How the grouped raw loop fills its batches (the stream job's `stream.batch_grouping`,
/// `stream.batch_max_rows` and `stream.batch_max_bytes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawGrouping {
    /// Which rows may share a batch.
    pub grouping: BatchGrouping,
    /// Most rows in one batch.
    pub rows: usize,
    /// Most bytes of serialized values in one batch, as the stream job counts them
    /// (`SerializedValues::buffer_size`); a row larger than this goes alone.
    pub bytes: usize,
}

/// What a worker did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WorkerResult {
    pub records: u64,
    pub bytes: u64,
    /// From the first send or insert to the last acknowledgement.
    pub seconds: f64,
    pub failed: u64,
    /// The worker's own peak RSS and CPU at its end
    /// ([`crate::bench::measure::procstat::own_footprint`]).
    #[serde(default)]
    pub footprint: Option<crate::bench::measure::procstat::Footprint>,
}

/// Runs a worker from its JSON spec and returns its JSON result line.
pub async fn run(spec_json: &str) -> Result<String, BenchError> {
    let spec: WorkerSpec = serde_json::from_str(spec_json)
        .map_err(|e| BenchError::Verify(format!("bad worker spec: {e}")))?;
    let mut result = match spec {
        WorkerSpec::Produce {
            kafka,
            producer,
            topic,
            records,
            seed,
            wire,
        } => produce(&kafka, &producer, &topic, records, &seed, wire).await?,
        WorkerSpec::Raw {
            cassandra,
            keyspace,
            table,
            records,
            seed,
            concurrency,
            grouping,
        } => {
            let target = (keyspace.as_str(), table.as_str());
            raw(&cassandra, target, records, &seed, concurrency, grouping).await?
        }
    };
    result.footprint = crate::bench::measure::procstat::own_footprint();
    serde_json::to_string(&result).map_err(|e| BenchError::Verify(e.to_string()))
}

async fn produce(
    kafka: &KafkaConfig,
    producer: &ProducerConfig,
    topic: &str,
    records: u64,
    seed: &str,
    wire: Option<(ProducedFormat, u32)>,
) -> Result<WorkerResult, BenchError> {
    let mut generator = Generator::new(Some(seed));
    let encoder = match wire {
        Some((format, id)) => {
            Some(UsersEncoder::new(id, format).map_err(|e| BenchError::Verify(e.to_string()))?)
        }
        None => None,
    };
    let mut encoded: Vec<(String, Vec<u8>)> = Vec::with_capacity(records as usize);
    for _ in 0..records {
        let r = generator.next_user();
        let value = match &encoder {
            Some(encoder) => {
                let mut out = Vec::new();
                encoder.encode(&r, &mut out).map_err(BenchError::Verify)?;
                out
            }
            None => r.to_json().into_bytes(),
        };
        encoded.push((r.id.to_string(), value));
    }
    let bytes = encoded.iter().map(|(_, v)| v.len() as u64).sum();
    let mut sender = RecordProducer::new(kafka, producer, topic)?;
    let started = Instant::now();
    for (key, value) in &encoded {
        sender.send_bytes(Some(key.as_bytes()), value, None).await?;
    }
    let undelivered = sender.flush(Duration::from_secs(300)).await;
    let seconds = started.elapsed().as_secs_f64();
    let counts = sender.counts();
    Ok(WorkerResult {
        records: counts.delivered(),
        bytes,
        seconds,
        failed: counts.failed() + undelivered,
        footprint: None,
    })
}

async fn raw(
    cfg: &CassandraConfig,
    (keyspace, table): (&str, &str),
    records: u64,
    seed: &str,
    concurrency: usize,
    grouping: Option<RawGrouping>,
) -> Result<WorkerResult, BenchError> {
    let session = Arc::new(cassandra::connect(cfg).await?);
    let cql = format!(
        "INSERT INTO {}.{} (id, first_name, last_name, gender, address, post_code, email, \
         username, dob, registered_date, phone, picture) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, \
         ?, ?) USING TIMESTAMP ?",
        cassandra::schema::quote(keyspace),
        cassandra::schema::quote(table)
    );
    let mut insert = session
        .prepare(cql.as_str())
        .await
        .map_err(|e| BenchError::Verify(format!("prepare `{cql}`: {e}")))?;
    insert.set_is_idempotent(true);
    let insert = Arc::new(insert);
    // Users are generated on a thread of their own, so the loop's runtime only writes.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<UserRecord>(8192);
    let seed = seed.to_string();
    let generator = std::thread::spawn(move || {
        let mut generator = Generator::new(Some(&seed));
        for _ in 0..records {
            if tx.blocking_send(generator.next_user()).is_err() {
                break;
            }
        }
    });
    // One task per write on the multi-threaded runtime, `concurrency` at a time: the
    // same shape as the stream job, minus Kafka.
    let writes = Writes::new(concurrency);
    let started = Instant::now();
    let micros = chrono::Utc::now().timestamp_micros();
    match grouping {
        None => {
            while let Some(r) = rx.recv().await {
                let (session, insert) = (session.clone(), insert.clone());
                writes
                    .spawn(1, async move {
                        insert_with_retries(&session, &insert, row(r, micros)).await
                    })
                    .await;
            }
        }
        Some(limits) => {
            let mut groups = Groups::new(limits);
            while let Some(r) = rx.recv().await {
                let values = batch::serialize(&insert, &row(r, micros))
                    .map_err(|e| BenchError::Verify(format!("raw loop: serialize a row: {e}")))?;
                // As the stream job: a row it cannot route, or larger than any batch, alone.
                let group = match values.buffer_size() <= limits.bytes {
                    true => batch::group_of(&session, limits.grouping, &insert, &values),
                    false => None,
                };
                let full = match group {
                    Some(group) => groups.push(group, values),
                    None => Some(vec![values]),
                };
                if let Some(full) = full {
                    write_group(&writes, &session, &insert, full).await;
                }
            }
            for rest in groups.drain() {
                write_group(&writes, &session, &insert, rest).await;
            }
        }
    }
    let (written, failed) = writes.finish().await;
    if generator.join().is_err() {
        return Err(BenchError::Verify(
            "the raw loop's user generator panicked".into(),
        ));
    }
    if written + failed != records {
        return Err(BenchError::Verify(format!(
            "the raw loop attempted {} of {records} inserts",
            written + failed
        )));
    }
    Ok(WorkerResult {
        records: written,
        bytes: 0,
        seconds: started.elapsed().as_secs_f64(),
        failed,
        footprint: None,
    })
}

/// The bound values of one row of the users table, with the write's timestamp.
type Row = (
    Uuid,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    CqlTimestamp,
    CqlTimestamp,
    String,
    String,
    i64,
);

fn row(r: UserRecord, micros: i64) -> Row {
    (
        r.id,
        r.first_name,
        r.last_name,
        r.gender,
        r.address,
        r.post_code,
        r.email,
        r.username,
        CqlTimestamp(r.dob.timestamp_millis()),
        CqlTimestamp(r.registered_date.timestamp_millis()),
        r.phone,
        r.picture,
        micros,
    )
}

/// Rows waiting for a batch, one group per key (the stream job's [`batch::Rows`]), each
/// filled by the stream job's rule ([`batch::Fill`]).
struct Groups<K> {
    limits: RawGrouping,
    open: HashMap<K, batch::Fill<SerializedValues>>,
}

impl<K: std::hash::Hash + Eq> Groups<K> {
    fn new(limits: RawGrouping) -> Self {
        Groups {
            limits,
            open: HashMap::new(),
        }
    }

    /// Adds a row to its group; returns a batch to write when [`batch::Fill::push`]
    /// closes one.
    fn push(&mut self, key: K, row: SerializedValues) -> Option<Vec<SerializedValues>> {
        let size = row.buffer_size();
        let (rows, bytes) = (self.limits.rows, self.limits.bytes);
        self.open
            .entry(key)
            .or_default()
            .push(row, size, rows, bytes)
    }

    /// The groups not yet written, at the end of the input.
    fn drain(&mut self) -> impl Iterator<Item = Vec<SerializedValues>> + '_ {
        self.open
            .drain()
            .map(|(_, mut g)| g.take())
            .filter(|rows| !rows.is_empty())
    }
}

/// Writes of the raw loop in flight, each its own task, at most `concurrency` at a time,
/// counting the rows written and failed.
struct Writes {
    slots: Arc<Semaphore>,
    concurrency: u32,
    written: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
}

impl Writes {
    fn new(concurrency: usize) -> Writes {
        let concurrency = u32::try_from(concurrency.max(1))
            .unwrap_or(u32::MAX)
            .min(1 << 20);
        Writes {
            slots: Arc::new(Semaphore::new(concurrency as usize)),
            concurrency,
            written: Arc::new(AtomicU64::new(0)),
            failed: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Waits for a free slot, then runs `write` (of `rows` rows; true when it succeeded)
    /// as a task of its own.
    async fn spawn(&self, rows: u64, write: impl Future<Output = bool> + Send + 'static) {
        let Ok(slot) = self.slots.clone().acquire_owned().await else {
            return;
        };
        let (written, failed) = (self.written.clone(), self.failed.clone());
        tokio::spawn(async move {
            let counter = if write.await { written } else { failed };
            counter.fetch_add(rows, Ordering::Relaxed);
            drop(slot);
        });
    }

    /// Waits until every write has returned its slot; (rows written, rows failed).
    async fn finish(self) -> (u64, u64) {
        let _ = self.slots.acquire_many(self.concurrency).await;
        (
            self.written.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

/// The rows of one group, as a task of `writes`: an UNLOGGED batch (idempotent, the
/// statement's consistency), or a plain write for a lone row, as the stream job sends them.
async fn write_group(
    writes: &Writes,
    session: &Arc<Session>,
    insert: &Arc<PreparedStatement>,
    rows: Vec<SerializedValues>,
) {
    let (session, insert) = (session.clone(), insert.clone());
    let n = rows.len() as u64;
    if let [_] = rows.as_slice() {
        writes
            .spawn(n, async move {
                with_retries(|| session.execute_unpaged(&insert, Serialized(&rows[0]))).await
            })
            .await;
        return;
    }
    let mut group = Batch::new(BatchType::Unlogged);
    if let Some(consistency) = insert.get_consistency() {
        group.set_consistency(consistency);
    }
    group.set_is_idempotent(true);
    for _ in &rows {
        group.append_statement(insert.as_ref().clone());
    }
    writes
        .spawn(n, async move {
            with_retries(|| {
                let values: Vec<Serialized<'_>> = rows.iter().map(Serialized).collect();
                session.batch(&group, values)
            })
            .await
        })
        .await;
}

/// One raw insert, retried while the server refuses it for load, as a real loader would.
async fn insert_with_retries(session: &Session, insert: &PreparedStatement, values: Row) -> bool {
    with_retries(|| session.execute_unpaged(insert, &values)).await
}

/// Runs a write until it succeeds, at most 20 times, 50 ms apart.
async fn with_retries<T, E: std::fmt::Display, F>(mut write: impl FnMut() -> F) -> bool
where
    F: Future<Output = Result<T, E>>,
{
    for attempt in 0..20u32 {
        match Box::pin(write()).await {
            Ok(_) => return true,
            Err(e) => {
                if attempt == 0 {
                    tracing::warn!(error = %e, "raw write failed, retrying");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    false
}
