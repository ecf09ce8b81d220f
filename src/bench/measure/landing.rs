//! Where rows land and proof that they did: the table a run writes to (a fresh one per
//! run, from [`crate::bench::scratch`]), the "sentinel" records (first and last messages
//! of every partition, read back from Kafka), waiting until the sentinels are readable,
//! then a full count of the table's ids and a field-by-field comparison of a sample. A
//! figure whose rows did not all land is not reported.

use crate::bench::BenchError;
use crate::cassandra::schema::quote;
use crate::cassandra::users_row::{record_from_row, UsersRow, COLUMNS};
use crate::config::KafkaConfig;
use crate::kafka::client_config;
use crate::record::UserRecord;
use futures::TryStreamExt;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// A table rows are written to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub keyspace: String,
    pub table: String,
}

impl Target {
    pub fn cql(&self) -> String {
        format!("{}.{}", quote(&self.keyspace), quote(&self.table))
    }
}

/// Ids of the first and of the last messages of every partition of a topic.
#[derive(Debug, Clone, Default)]
pub struct Sentinels {
    pub first: Vec<Uuid>,
    pub last: Vec<Uuid>,
}

/// Reads `per_partition` messages at each end of every partition of `topic`.
pub async fn sentinels(
    kafka: &KafkaConfig,
    topic: &str,
    per_partition: i64,
) -> Result<Sentinels, BenchError> {
    let mut cfg = client_config(kafka);
    cfg.set("group.id", "cassflow-bench-sentinels")
        .set("enable.auto.commit", "false");
    let topic = topic.to_string();
    let timeout = kafka.request_timeout;
    tokio::task::spawn_blocking(move || {
        let fail = |e: rdkafka::error::KafkaError| BenchError::Peer {
            peer: "sentinels".into(),
            detail: e.to_string(),
        };
        let consumer: BaseConsumer = cfg.create().map_err(fail)?;
        let metadata = consumer
            .fetch_metadata(Some(&topic), timeout)
            .map_err(fail)?;
        let parts: Vec<i32> = metadata
            .topics()
            .iter()
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        let mut out = Sentinels::default();
        for p in parts {
            let (low, high) = consumer
                .fetch_watermarks(&topic, p, timeout)
                .map_err(fail)?;
            if high <= low {
                continue;
            }
            for (start, into_first) in [(low, true), ((high - per_partition).max(low), false)] {
                let end = (start + per_partition).min(high);
                let mut tpl = TopicPartitionList::new();
                tpl.add_partition_offset(&topic, p, Offset::Offset(start))
                    .map_err(fail)?;
                consumer.assign(&tpl).map_err(fail)?;
                let deadline = Instant::now() + timeout;
                let mut next = start;
                while next < end && Instant::now() < deadline {
                    let Some(message) = consumer.poll(Duration::from_millis(500)) else {
                        continue;
                    };
                    let message = message.map_err(fail)?;
                    next = message.offset() + 1;
                    if let Ok((record, _)) = UserRecord::decode(message.payload().unwrap_or(&[])) {
                        if into_first {
                            out.first.push(record.id);
                        } else {
                            out.last.push(record.id);
                        }
                    }
                }
            }
        }
        Ok(out)
    })
    .await
    .map_err(|e| BenchError::Peer {
        peer: "sentinels".into(),
        detail: e.to_string(),
    })?
}

/// Which ids of a set are readable.
pub struct Reader {
    by_ids: PreparedStatement,
    row_by_id: PreparedStatement,
}

impl Reader {
    pub async fn new(session: &Session, target: &Target) -> Result<Reader, BenchError> {
        let prepare = |cql: String| async move {
            session
                .prepare(cql.clone())
                .await
                .map_err(|e| BenchError::Verify(format!("prepare `{cql}`: {e}")))
        };
        Ok(Reader {
            by_ids: prepare(format!("SELECT id FROM {} WHERE id IN ?", target.cql())).await?,
            row_by_id: prepare(format!(
                "SELECT {COLUMNS} FROM {} WHERE id = ?",
                target.cql()
            ))
            .await?,
        })
    }

    /// Most ids asked in one `IN` request: a coordinator reads each from its replicas,
    /// so a long list makes one slow request rather than many quick ones.
    pub const IN_LIMIT: usize = 64;

    /// Which of `ids` (at most [`Self::IN_LIMIT`]) are readable now, asked in one request
    /// (a failed request: none).
    pub async fn readable(&self, session: &Session, ids: &[Uuid]) -> Vec<Uuid> {
        let Ok(result) = session.execute_unpaged(&self.by_ids, (ids,)).await else {
            return Vec::new();
        };
        let Ok(rows) = result.into_rows_result() else {
            return Vec::new();
        };
        match rows.rows::<(Uuid,)>() {
            Ok(rows) => rows.filter_map(|r| r.ok().map(|(id,)| id)).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Which of `ids` (any number) are readable now, asked in requests of up to
    /// [`Self::IN_LIMIT`] ids, one after another.
    pub async fn readable_any(&self, session: &Session, ids: &[Uuid]) -> Vec<Uuid> {
        let mut found = Vec::new();
        for chunk in ids.chunks(Self::IN_LIMIT) {
            found.extend(self.readable(session, chunk).await);
        }
        found
    }

    /// The row with this id, as a record.
    pub async fn read(&self, session: &Session, id: Uuid) -> Option<UserRecord> {
        let result = session.execute_unpaged(&self.row_by_id, (id,)).await.ok()?;
        let row: UsersRow = result.into_rows_result().ok()?.maybe_first_row().ok()??;
        record_from_row(row)
    }
}

/// When the rows became readable, measured from the run's start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Landing {
    /// The first sentinel from the start of a partition was readable.
    pub first_row: Option<Duration>,
    /// Every sentinel, and then every row, was readable.
    pub all_rows: Duration,
    /// The count that proved it.
    pub counted: u64,
}

/// Why [`wait_landed`] calls its watcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// Rows are still missing: the watcher says whether the writers still run.
    Missing,
    /// Every last sentinel is readable and the table is about to be counted: the writers'
    /// work is done, unless the count still finds rows missing (then polling goes on).
    LastRowsReadable,
}

/// Waits until every last sentinel is readable and the table holds `expected` rows, printing
/// progress every few seconds. Fails after `timeout` or when `watch` says the writers died.
pub async fn wait_landed(
    session: &Session,
    target: &Target,
    sentinels: &Sentinels,
    expected: u64,
    started: Instant,
    timeout: Duration,
    mut watch: impl FnMut(Poll) -> Result<(), String>,
) -> Result<Landing, BenchError> {
    let failed = |detail| BenchError::Peer {
        peer: target.keyspace.clone(),
        detail,
    };
    let reader = Reader::new(session, target).await?;
    let mut first_row = None;
    let mut pending: Vec<Uuid> = sentinels.last.clone();
    let mut last_say = Instant::now();
    loop {
        if first_row.is_none()
            && !reader
                .readable_any(session, &sentinels.first)
                .await
                .is_empty()
        {
            first_row = Some(started.elapsed());
        }
        let landed = reader.readable_any(session, &pending).await;
        pending.retain(|id| !landed.contains(id));
        if pending.is_empty() {
            let seen_at = started.elapsed();
            watch(Poll::LastRowsReadable).map_err(failed)?;
            let count = count_rows(session, target).await?;
            if count >= expected {
                return Ok(Landing {
                    first_row: first_row.or(Some(seen_at)),
                    all_rows: seen_at,
                    counted: count,
                });
            }
        }
        watch(Poll::Missing).map_err(failed)?;
        if started.elapsed() > timeout {
            return Err(BenchError::Verify(format!(
                "rows did not all land in {} within {timeout:?} ({} of {} last sentinels missing)",
                target.cql(),
                pending.len(),
                sentinels.last.len()
            )));
        }
        if last_say.elapsed() > Duration::from_secs(10) {
            crate::bench::say!(
                "    {:>5.0}s  first rows {}  last rows {}/{} readable",
                started.elapsed().as_secs_f64(),
                first_row.map_or("not yet".to_string(), |t| format!(
                    "at {:.1}s",
                    t.as_secs_f64()
                )),
                sentinels.last.len() - pending.len(),
                sentinels.last.len()
            );
            last_say = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Counts the table's rows by paging through its ids (a server-side COUNT(*) of a million
/// rows would hit the range-read timeout).
pub async fn count_rows(session: &Session, target: &Target) -> Result<u64, BenchError> {
    let mut statement =
        scylla::statement::unprepared::Statement::new(format!("SELECT id FROM {}", target.cql()));
    statement.set_page_size(5000);
    let mut rows = session
        .query_iter(statement, &[])
        .await
        .map_err(|e| BenchError::Verify(format!("count {}: {e}", target.cql())))?
        .rows_stream::<(Uuid,)>()
        .map_err(|e| BenchError::Verify(format!("count {}: {e}", target.cql())))?;
    let mut n = 0u64;
    while rows
        .try_next()
        .await
        .map_err(|e| BenchError::Verify(format!("count {}: {e}", target.cql())))?
        .is_some()
    {
        n += 1;
    }
    Ok(n)
}

/// The proof a figure stands on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub expected_rows: u64,
    pub counted_rows: u64,
    pub sample_checked: usize,
    pub sample_mismatches: usize,
}

impl Verification {
    pub fn passed(&self) -> bool {
        self.counted_rows == self.expected_rows
            && self.sample_checked > 0
            && self.sample_mismatches == 0
    }
}

/// Compares each sampled record with its row, field by field; `counted` is the full count
/// [`wait_landed`] made (the rows are idempotent upserts, so it cannot shrink).
pub async fn verify(
    session: &Session,
    target: &Target,
    expected: u64,
    counted: u64,
    sample: &HashMap<Uuid, UserRecord>,
) -> Result<Verification, BenchError> {
    let reader = Reader::new(session, target).await?;
    let counted_rows = counted;
    let mut mismatches = 0;
    for (id, want) in sample {
        match reader.read(session, *id).await {
            Some(got) if &got == want => {}
            other => {
                if mismatches == 0 {
                    tracing::warn!(%id, expected = ?want, found = ?other, "sampled row differs");
                }
                mismatches += 1;
            }
        }
    }
    Ok(Verification {
        expected_rows: expected,
        counted_rows,
        sample_checked: sample.len(),
        sample_mismatches: mismatches,
    })
}
