//! Grouped writes: the rows of a pipeline's records in flight, gathered into UNLOGGED
//! batches of rows that share a partition key (`stream.batch_grouping = "partition"`) or a
//! replica set (`"replica_set"`: token-aware, so a batch never spans replicas and its
//! coordinator owns every row). A batch costs Cassandra and the client less per row than
//! as many single writes; it buys no atomicity and is not used for it.
//!
//! Each record's task hands its row, serialized, to the pipeline's [`Batcher`] and waits for
//! the answer of the batch it went out in: a record is finished when its batch is, so
//! offsets stay exact. A group is sent when it holds `batch_max_rows` rows or
//! `batch_max_bytes` bytes, when its first row has waited `batch_linger`, or at once when
//! every record in flight is waiting here (nothing could join it before a write ends). A
//! batch holds rows of one plan of the table only, so a schema change that fails the rows
//! of the old plan never fails those of the new one. Rows are in offset order within a
//! batch; which version of a row stays is decided by the write times (`USING TIMESTAMP`),
//! as for rows written one by one. A lone row is sent as a plain write.

use super::convert::Cell;
use super::metrics::PipelineMetrics;
use super::sink::{classify, WriteError};
use crate::config::{BatchGrouping, StreamConfig};
use scylla::client::session::Session;
use scylla::errors::{ExecutionError, RequestAttemptError};
use scylla::serialize::row::{RowSerializationContext, SerializeRow};
use scylla::serialize::writers::RowWriter;
use scylla::serialize::SerializationError;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla_cql_core::serialize::row::SerializedValues;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// How rows are gathered, from `[stream]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSettings {
    pub grouping: BatchGrouping,
    pub max_rows: usize,
    pub max_bytes: usize,
    pub linger: Duration,
    /// The pipeline's `max_in_flight`: when that many rows wait or are being written, no
    /// other row can join a group before a write ends.
    pub max_in_flight: usize,
}

impl BatchSettings {
    /// The settings of `stream`, or None when every row is written on its own.
    pub fn of(stream: &StreamConfig) -> Option<Self> {
        (stream.batch_max_rows > 1).then_some(BatchSettings {
            grouping: stream.batch_grouping,
            max_rows: stream.batch_max_rows,
            max_bytes: stream.batch_max_bytes,
            linger: stream.batch_linger,
            max_in_flight: stream.max_in_flight,
        })
    }
}

/// What a write through the batcher came to: the driver's answer for the batch, and how
/// many rows the batch held (a refusal of a batch of several rows blames none of them).
pub struct Answer {
    pub result: Result<(), WriteError>,
    pub rows: usize,
}

/// Which rows may share a batch: one plan generation ([`super::sink::Prepared`]) and one
/// partition or replica set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct GroupKey {
    generation: u64,
    rows: Rows,
}

/// Where a group's rows live.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Rows {
    /// The partition key's token (two keys of one token may share a batch: harmless).
    Token(i64),
    /// The host ids of the replicas, sorted.
    Replicas(Vec<uuid::Uuid>),
}

/// A row waiting for its batch.
struct Pending {
    key: GroupKey,
    /// Kafka partition and offset: the order of rows within a batch.
    order: (i32, i64),
    statement: PreparedStatement,
    values: SerializedValues,
    reply: oneshot::Sender<Answer>,
}

/// Gathers one pipeline's rows into batches; cheap to share (one sender).
pub struct Batcher {
    session: Arc<Session>,
    settings: BatchSettings,
    rows: mpsc::UnboundedSender<Pending>,
}

impl Batcher {
    /// Starts the pipeline's batching task; it ends when the batcher is dropped.
    pub fn start(session: Arc<Session>, settings: BatchSettings, metrics: PipelineMetrics) -> Self {
        let (rows, receiver) = mpsc::unbounded_channel();
        tokio::spawn(
            Groups {
                session: session.clone(),
                settings,
                groups: HashMap::new(),
                waiting: 0,
                sending: Arc::new(AtomicUsize::new(0)),
                metrics,
            }
            .run(receiver),
        );
        Batcher {
            session,
            settings,
            rows,
        }
    }

    /// Writes `binds` with `statement` (idempotent, no condition, of plan `generation`) in a
    /// batch of rows of its group, and answers when that batch is written or refused.
    pub async fn write(
        &self,
        statement: &PreparedStatement,
        generation: u64,
        binds: &[Cell<'_>],
        order: (i32, i64),
    ) -> Answer {
        let values = match serialize(statement, &binds) {
            Ok(values) => values,
            Err(e) => {
                let e =
                    ExecutionError::LastAttemptError(RequestAttemptError::SerializationError(e));
                return Answer {
                    result: Err(classify(e)),
                    rows: 1,
                };
            }
        };
        let key = match values.buffer_size() <= self.settings.max_bytes {
            true => self
                .rows_of(statement, &values)
                .map(|rows| GroupKey { generation, rows }),
            false => None,
        };
        let Some(key) = key else {
            // Not routable, or too large for any batch: on its own.
            return Answer {
                result: single(&self.session, statement, &values).await,
                rows: 1,
            };
        };
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            key,
            order,
            statement: statement.clone(),
            values,
            reply,
        };
        if let Err(mpsc::error::SendError(pending)) = self.rows.send(pending) {
            // The batching task is gone (it never ends while we hold its sender; a panic
            // would end it): write alone rather than lose the row.
            return Answer {
                result: single(&self.session, &pending.statement, &pending.values).await,
                rows: 1,
            };
        }
        match answer.await {
            Ok(answer) => answer,
            Err(_) => Answer {
                result: Err(WriteError::Transient(
                    "the batch of this row ended without an answer".into(),
                )),
                rows: 1,
            },
        }
    }

    /// Where a row with these values lives, or None when the driver cannot route it.
    fn rows_of(&self, statement: &PreparedStatement, values: &SerializedValues) -> Option<Rows> {
        group_of(&self.session, self.settings.grouping, statement, values)
    }
}

/// Where a row of `statement` with `values` lives under `grouping` (rows of equal answers
/// may share a batch), or None when the driver cannot route it. Shared with the bench's raw
/// loop, so its grouped mode groups as the stream job does.
pub fn group_of(
    session: &Session,
    grouping: BatchGrouping,
    statement: &PreparedStatement,
    values: &SerializedValues,
) -> Option<Rows> {
    let token = statement.calculate_token(&Serialized(values)).ok()??;
    match grouping {
        BatchGrouping::Partition => Some(Rows::Token(token.value())),
        BatchGrouping::ReplicaSet => {
            let table = statement.get_table_spec()?;
            let mut hosts: Vec<uuid::Uuid> = session
                .get_cluster_state()
                .get_token_endpoints(table.ks_name(), table.table_name(), token)
                .iter()
                .map(|(node, _shard)| node.host_id)
                .collect();
            if hosts.is_empty() {
                return None;
            }
            hosts.sort_unstable();
            Some(Rows::Replicas(hosts))
        }
    }
}

/// The values of one row, serialized once (by its record's task), as a batch or a write
/// binds them.
pub struct Serialized<'a>(pub &'a SerializedValues);

impl SerializeRow for Serialized<'_> {
    fn serialize(
        &self,
        _ctx: &RowSerializationContext<'_>,
        writer: &mut RowWriter,
    ) -> Result<(), SerializationError> {
        writer.append_serialize_row(self.0);
        Ok(())
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `values` serialized for `statement`'s bind markers; its `buffer_size()` is what
/// `batch_max_bytes` counts.
pub fn serialize(
    statement: &PreparedStatement,
    values: &(impl SerializeRow + ?Sized),
) -> Result<SerializedValues, SerializationError> {
    let specs = statement.get_variable_col_specs();
    let context = RowSerializationContext::from_specs(specs.as_slice());
    SerializedValues::from_serializable(&context, values)
}

async fn single(
    session: &Session,
    statement: &PreparedStatement,
    values: &SerializedValues,
) -> Result<(), WriteError> {
    // Boxed: the driver's future is ~4 KB (see `SinkWriter::write`).
    Box::pin(session.execute_unpaged(statement, Serialized(values)))
        .await
        .map(|_| ())
        .map_err(classify)
}

/// The rows of one open group and the rule that closes it: a batch holds at most
/// `max_rows` rows and `max_bytes` bytes of serialized values. Shared with the bench's
/// grouped raw loop, so both fill batches alike.
#[derive(Debug)]
pub struct Fill<R> {
    rows: Vec<R>,
    bytes: usize,
}

impl<R> Default for Fill<R> {
    fn default() -> Self {
        Fill {
            rows: Vec::new(),
            bytes: 0,
        }
    }
}

impl<R> Fill<R> {
    /// Adds a row of `size` bytes. Returns the rows to write now, if any: the group
    /// without the row when the row would take it over `max_bytes` (the row then starts
    /// the next batch), else the group with the row once it holds `max_rows`.
    pub fn push(
        &mut self,
        row: R,
        size: usize,
        max_rows: usize,
        max_bytes: usize,
    ) -> Option<Vec<R>> {
        let over = !self.rows.is_empty() && self.bytes + size > max_bytes;
        let before = over.then(|| self.take());
        self.rows.push(row);
        self.bytes += size;
        match before {
            Some(rows) => Some(rows),
            None => (self.rows.len() >= max_rows.max(1)).then(|| self.take()),
        }
    }

    /// The rows held, leaving the group empty.
    pub fn take(&mut self) -> Vec<R> {
        self.bytes = 0;
        std::mem::take(&mut self.rows)
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// One open group, and when its oldest row arrived.
struct Group {
    fill: Fill<Pending>,
    since: Instant,
}

/// The batching task's state.
struct Groups {
    session: Arc<Session>,
    settings: BatchSettings,
    groups: HashMap<GroupKey, Group>,
    /// Rows in `groups`.
    waiting: usize,
    /// Rows in batches sent and not answered yet.
    sending: Arc<AtomicUsize>,
    metrics: PipelineMetrics,
}

impl Groups {
    async fn run(mut self, mut receiver: mpsc::UnboundedReceiver<Pending>) {
        loop {
            let deadline = self
                .groups
                .values()
                .map(|g| g.since + self.settings.linger)
                .min();
            tokio::select! {
                received = receiver.recv() => match received {
                    Some(pending) => self.add(pending),
                    None => break,
                },
                _ = sleep_until(deadline), if deadline.is_some() => {}
            }
            // Whatever else has arrived joins its group before anything lingers.
            while let Ok(pending) = receiver.try_recv() {
                self.add(pending);
            }
            self.send_due();
        }
        // Every sender is gone, so no record waits for the rows still held: their records
        // were abandoned (not committed, read again), and writing them now would only
        // write after the pipeline said it stopped.
    }

    /// Adds a row to its group, and sends what [`Fill::push`] closes.
    fn add(&mut self, pending: Pending) {
        let bytes = pending.values.buffer_size();
        let group = self
            .groups
            .entry(pending.key.clone())
            .or_insert_with(|| Group {
                fill: Fill::default(),
                since: Instant::now(),
            });
        self.waiting += 1;
        let (max_rows, max_bytes) = (self.settings.max_rows, self.settings.max_bytes);
        let Some(rows) = group.fill.push(pending, bytes, max_rows, max_bytes) else {
            return;
        };
        if group.fill.is_empty() {
            self.groups.remove(&rows[0].key);
        } else {
            // The row that did not fit starts the group again.
            group.since = Instant::now();
        }
        self.send(rows);
    }

    /// Sends the groups whose linger is over, or every group when no more rows can come
    /// before a write ends (every record in flight is waiting here or being written).
    fn send_due(&mut self) {
        let stuck =
            self.waiting + self.sending.load(Ordering::Relaxed) >= self.settings.max_in_flight;
        let now = Instant::now();
        let due: Vec<GroupKey> = self
            .groups
            .iter()
            .filter(|(_, g)| stuck || g.since + self.settings.linger <= now)
            .map(|(k, _)| k.clone())
            .collect();
        self.send_groups(&due);
    }

    /// Sends the rows of every group in `keys`.
    fn send_groups(&mut self, keys: &[GroupKey]) {
        for key in keys {
            if let Some(mut group) = self.groups.remove(key) {
                self.send(group.fill.take());
            }
        }
    }

    /// Sends rows of one group as a batch (a lone row as a plain write) on a task of its
    /// own, which answers each row.
    fn send(&mut self, mut rows: Vec<Pending>) {
        self.waiting -= rows.len();
        self.sending.fetch_add(rows.len(), Ordering::Relaxed);
        rows.sort_unstable_by_key(|p| p.order);
        if rows.len() > 1 {
            self.metrics.batches.inc();
            self.metrics.batched_rows.inc_by(rows.len() as u64);
        }
        let session = self.session.clone();
        let sending = self.sending.clone();
        tokio::spawn(async move {
            let count = rows.len();
            let result = match rows.as_slice() {
                [one] => single(&session, &one.statement, &one.values).await,
                _ => write_batch(&session, &rows).await,
            };
            sending.fetch_sub(count, Ordering::Relaxed);
            for row in rows {
                // A record abandoned meanwhile (shutdown) no longer listens.
                let _ = row.reply.send(Answer {
                    result: result.clone(),
                    rows: count,
                });
            }
        });
    }
}

async fn write_batch(session: &Session, rows: &[Pending]) -> Result<(), WriteError> {
    let mut batch = Batch::new(BatchType::Unlogged);
    if let Some(consistency) = rows.first().and_then(|r| r.statement.get_consistency()) {
        batch.set_consistency(consistency);
    }
    // Only idempotent statements come here: a retried batch leaves the same rows.
    batch.set_is_idempotent(true);
    for row in rows {
        batch.append_statement(row.statement.clone());
    }
    let values: Vec<Serialized<'_>> = rows.iter().map(|r| Serialized(&r.values)).collect();
    Box::pin(session.batch(&batch, values))
        .await
        .map(|_| ())
        .map_err(classify)
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::Fill;

    /// Pushes rows of these sizes (each row is its size) into one group.
    fn fill(max_rows: usize, max_bytes: usize, sizes: &[usize]) -> (Vec<Vec<usize>>, Fill<usize>) {
        let mut group = Fill::default();
        let closed = sizes
            .iter()
            .filter_map(|&size| group.push(size, size, max_rows, max_bytes))
            .collect();
        (closed, group)
    }

    #[test]
    fn a_group_closes_when_it_has_its_rows() {
        let (closed, mut rest) = fill(3, 4096, &[1, 2, 3, 4]);
        assert_eq!(closed, [vec![1, 2, 3]]);
        assert_eq!(rest.take(), [4]);
        assert!(rest.is_empty());
    }

    #[test]
    fn a_row_over_the_byte_limit_starts_the_next_batch() {
        let (closed, mut rest) = fill(8, 1000, &[400, 500, 300, 5000, 10]);
        // 300 does not fit beside 400 + 500; 5000 fits nowhere, so it goes alone.
        assert_eq!(closed, [vec![400, 500], vec![300], vec![5000]]);
        assert_eq!(rest.take(), [10]);
    }

    #[test]
    fn one_row_batches_close_at_once() {
        let (closed, rest) = fill(1, 4096, &[7, 8]);
        assert_eq!(closed, [vec![7], vec![8]]);
        assert!(rest.is_empty());
    }
}
