//! The bench's child processes (`cassflow bench-worker <spec>`, hidden): work that must be
//! measured apart from the harness, so its memory and CPU are its own.
//! - `Produce`: cassflow's producer sends N generated records (encoded before the clock
//!   starts, as kafka-producer-perf-test's payloads are) and waits for every delivery report.
//! - `Raw`: the ceiling of one process: the same N records inserted straight into
//!   Cassandra by the scylla driver with a prepared statement and a fixed number of writes
//!   in flight, each its own task on the multi-threaded runtime; users generated on a
//!   separate thread; no Kafka.
//!
//! Each prints one JSON line ([`WorkerResult`]) on stdout.

use super::BenchError;
use crate::cassandra;
use crate::config::{CassandraConfig, KafkaConfig, ProducerConfig};
use crate::produce::producer::RecordProducer;
use crate::record::UserRecord;
use crate::registry::users::{ProducedFormat, UsersEncoder};
use crate::source::generator::Generator;
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

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
        concurrency: usize,
    },
}

/// What a worker did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WorkerResult {
    pub records: u64,
    pub bytes: u64,
    /// From the first send or insert to the last acknowledgement.
    pub seconds: f64,
    pub failed: u64,
}

/// Runs a worker from its JSON spec and returns its JSON result line.
pub async fn run(spec_json: &str) -> Result<String, BenchError> {
    let spec: WorkerSpec = serde_json::from_str(spec_json)
        .map_err(|e| BenchError::Verify(format!("bad worker spec: {e}")))?;
    let result = match spec {
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
        } => raw(&cassandra, &keyspace, &table, records, &seed, concurrency).await?,
    };
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
    })
}

async fn raw(
    cfg: &CassandraConfig,
    keyspace: &str,
    table: &str,
    records: u64,
    seed: &str,
    concurrency: usize,
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
    // One task per insert on the multi-threaded runtime, `concurrency` at a time: the
    // same shape as the stream job, minus Kafka.
    let concurrency = u32::try_from(concurrency.max(1))
        .unwrap_or(u32::MAX)
        .min(1 << 20);
    let slots = Arc::new(Semaphore::new(concurrency as usize));
    let written = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let micros = chrono::Utc::now().timestamp_micros();
    while let Some(r) = rx.recv().await {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let (session, insert) = (session.clone(), insert.clone());
        let (written, failed) = (written.clone(), failed.clone());
        tokio::spawn(async move {
            let counter = if insert_with_retries(&session, &insert, r, micros).await {
                written
            } else {
                failed
            };
            counter.fetch_add(1, Ordering::Relaxed);
            drop(slot);
        });
    }
    // Every insert has returned its slot.
    let _ = slots.acquire_many(concurrency).await;
    if generator.join().is_err() {
        return Err(BenchError::Verify(
            "the raw loop's user generator panicked".into(),
        ));
    }
    let written = written.load(Ordering::Relaxed);
    let failed = failed.load(Ordering::Relaxed);
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
    })
}

/// One raw insert, retried while the server refuses it for load, as a real loader would.
async fn insert_with_retries(
    session: &Session,
    insert: &PreparedStatement,
    r: UserRecord,
    micros: i64,
) -> bool {
    let values = (
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
    );
    for attempt in 0..20u32 {
        match Box::pin(session.execute_unpaged(insert, &values)).await {
            Ok(_) => return true,
            Err(e) => {
                if attempt == 0 {
                    tracing::warn!(error = %e, "raw insert failed, retrying");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    false
}
