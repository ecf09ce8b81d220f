//! The Cassandra side of a pipeline: plans the table's columns ([`super::plan`]) and which
//! source fills each ([`super::mapping`]), prepares the pipeline's write
//! ([`super::statement`]: an upsert `USING TIMESTAMP ?`, so a replayed or older record
//! never overwrites newer data; a counter increment; or the pipeline's own `query`) and a
//! tombstone's delete, at the pipeline's consistency level, and classifies every failed write as
//! transient (retry), a schema change (re-plan, then judge the record), pipeline-wide
//! (pause the pipeline) or a refusal of this record (dead letter).
//!
//! The plan and its prepared statement are swapped as one [`Prepared`] with a generation
//! number when the table changes (a column added or dropped, the table re-created), so
//! records that hit the same change trigger one re-plan, not one each. A column added
//! while the job runs is noticed by reading `system_schema` now and then ([`SinkWriter::watch`]),
//! since Cassandra accepts the old statement and would never say so.

use super::batch::{BatchSettings, Batcher};
use super::convert::Cell;
use super::custom_query;
use super::mapping::{self, Mapping};
use super::plan::{
    check_mapped_columns, check_users_sources, column_plan, key_plan, table_columns,
};
use super::statement::{self, Shape, TableColumn};
use super::StreamError;
use crate::cassandra::cql_type::UdtCatalog;
use crate::config::{PipelineConfig, RecordFormat, StreamConfig, WriteConsistency};
use scylla::client::session::Session;
use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::Consistency;
use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How a write failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    /// Cassandra is unreachable, overloaded or timed out: retry later.
    Transient(String),
    /// The table is not what the statement was prepared for (unknown or undefined column,
    /// unconfigured table, statement re-prepared differently): re-read the table, then
    /// judge the record.
    Schema(String),
    /// Every record of the pipeline fails this way (no MODIFY permission, a server-side
    /// configuration error): pause the pipeline until it is fixed; no record is to blame.
    Pipeline(String),
    /// Cassandra rejected this row and always will: dead-letter it.
    Record(String),
}

/// One plan of the table's columns and the statements prepared for it.
pub struct Prepared {
    /// Which record value fills which bound value.
    pub mapping: Mapping,
    write: PreparedStatement,
    pub shape: Shape,
    /// A tombstone's delete (None with `deletes = false`).
    delete: Option<PreparedStatement>,
    /// A counter table (no write time on its statements; a write is not idempotent).
    pub counter: bool,
    /// Whether running the write twice leaves the same row ([`Shape::idempotent`]): not for
    /// a counter increment or a custom UPDATE (a list append).
    pub idempotent: bool,
    /// The table's columns as planned, to notice a change.
    columns: BTreeSet<String>,
    /// 0 for the plan made at start, one more for every re-plan.
    pub generation: u64,
}

/// What a write does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// The pipeline's write statement.
    Write,
    /// A tombstone's delete.
    Delete,
}

/// Writes rows of one pipeline into its table.
pub struct SinkWriter {
    session: Arc<Session>,
    pipeline: PipelineConfig,
    /// The pipeline's place in the configuration (`pipelines[0]`), for messages.
    config_key: String,
    current: RwLock<Arc<Prepared>>,
    /// Held while re-planning, so concurrent records wait for one re-plan.
    replanning: tokio::sync::Mutex<Option<FailedReplan>>,
    /// Gathers rows into batches (None: every row written on its own).
    batcher: Option<Batcher>,
}

/// A re-plan that failed, kept briefly so records arriving meanwhile do not all query
/// `system_schema` again.
struct FailedReplan {
    generation: u64,
    at: Instant,
    error: String,
}

/// How long a failed re-plan's answer is reused.
const REPLAN_RETRY: Duration = Duration::from_secs(1);

impl SinkWriter {
    /// Plans the columns of the pipeline's table and prepares the upsert.
    /// Rows are grouped into batches as `stream` says, except for a custom query (it may
    /// be a conditional write, which a batch cannot hold across partitions).
    pub async fn open(
        session: Arc<Session>,
        pipeline: &PipelineConfig,
        stream: &StreamConfig,
        config_key: &str,
    ) -> Result<Self, StreamError> {
        let prepared = prepare(&session, pipeline, config_key, 0).await?;
        let batcher = match pipeline.query {
            Some(_) => None,
            None => BatchSettings::of(stream).map(|settings| {
                let metrics = super::metrics::stream_metrics().pipeline(&pipeline.name);
                Batcher::start(session.clone(), settings, metrics)
            }),
        };
        Ok(SinkWriter {
            session,
            pipeline: pipeline.clone(),
            config_key: config_key.to_string(),
            current: RwLock::new(Arc::new(prepared)),
            replanning: tokio::sync::Mutex::new(None),
            batcher,
        })
    }

    /// The plan and statement records are written with now.
    pub fn current(&self) -> Arc<Prepared> {
        match self.current.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Re-reads the table and re-prepares, unless that already happened since `seen` (the
    /// generation the caller wrote with): then the newer plan is returned as it is. Boxed:
    /// re-planning's future is kilobytes, and every record's task, which may re-plan, would
    /// otherwise carry (and move) that much.
    pub fn replan(
        &self,
        seen: u64,
    ) -> futures::future::BoxFuture<'_, Result<Arc<Prepared>, String>> {
        Box::pin(self.replan_now(seen))
    }

    async fn replan_now(&self, seen: u64) -> Result<Arc<Prepared>, String> {
        let mut failed = self.replanning.lock().await;
        let current = self.current();
        if current.generation != seen {
            return Ok(current);
        }
        if let Some(f) = failed.as_ref() {
            if f.generation == seen && f.at.elapsed() < REPLAN_RETRY {
                return Err(f.error.clone());
            }
        }
        match prepare(&self.session, &self.pipeline, &self.config_key, seen + 1).await {
            Ok(next) => {
                let before = &current.columns;
                let after = &next.columns;
                tracing::info!(
                    pipeline = %self.pipeline.name,
                    table = %format!("{}.{}", self.pipeline.keyspace, self.pipeline.table),
                    generation = next.generation,
                    added = ?after.difference(before).collect::<Vec<_>>(),
                    removed = ?before.difference(after).collect::<Vec<_>>(),
                    "table changed: columns re-planned and upsert re-prepared"
                );
                super::metrics::stream_metrics()
                    .pipeline(&self.pipeline.name)
                    .replans
                    .inc();
                let next = Arc::new(next);
                match self.current.write() {
                    Ok(mut slot) => *slot = next.clone(),
                    Err(poisoned) => *poisoned.into_inner() = next.clone(),
                }
                *failed = None;
                Ok(next)
            }
            Err(e) => {
                let error = e.to_string();
                *failed = Some(FailedReplan {
                    generation: seen,
                    at: Instant::now(),
                    error: error.clone(),
                });
                Err(error)
            }
        }
    }

    /// Runs `op` of `prepared` with its bound values (see [`Shape::binds`] and
    /// [`statement::delete_binds`]) for the record at `order` (Kafka partition and offset):
    /// in a batch of its group when the pipeline batches, the write is idempotent and
    /// `order` is given, else on its own (the caller writes a retry on its own, so a record
    /// that keeps failing never drags others into its failures). A batch of several rows
    /// that Cassandra refuses blames none of them: the row is then written on its own, so
    /// only a row that is refused itself is judged. A write that is not idempotent (a counter increment, a
    /// list append) and failed in a way that may have applied it (a timeout) is counted in
    /// `cassflow_stream_uncertain_writes_total` and logged: the caller retries it like any
    /// transient failure, so it may apply twice.
    pub async fn write(
        &self,
        prepared: &Prepared,
        op: Op,
        binds: &[Cell<'_>],
        order: Option<(i32, i64)>,
    ) -> Result<(), WriteError> {
        let statement = match (op, &prepared.delete) {
            (Op::Write, _) => &prepared.write,
            (Op::Delete, Some(delete)) => delete,
            (Op::Delete, None) => {
                return Err(WriteError::Record(
                    "deletes are off for this pipeline".into(),
                ))
            }
        };
        if let (Some(batcher), true, Some(order)) = (&self.batcher, prepared.idempotent, order) {
            let answer = batcher
                .write(statement, prepared.generation, binds, order)
                .await;
            match answer.result {
                Err(WriteError::Record(_)) if answer.rows > 1 => {
                    super::metrics::stream_metrics()
                        .pipeline(&self.pipeline.name)
                        .batch_rows_rewritten
                        .inc();
                }
                result => return result,
            }
        }
        // Boxed: the driver's future is ~4 KB, and every record's task would otherwise
        // carry (and move) that much from the moment it is spawned.
        let result = Box::pin(self.session.execute_unpaged(statement, binds)).await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => {
                if !prepared.idempotent && op == Op::Write && may_have_been_applied(&e) {
                    super::metrics::stream_metrics()
                        .pipeline(&self.pipeline.name)
                        .uncertain_writes
                        .inc();
                    tracing::warn!(pipeline = %self.pipeline.name, error = %e, "a write that is not idempotent failed in a way that may have applied it; it is retried and may apply twice");
                }
                Err(classify(e))
            }
        }
    }

    /// Until `shutdown`, compares the table's columns in `system_schema` with the plan
    /// every `every` (one small query), and
    /// re-plans when they differ: an added column starts being filled without any write
    /// failing first. A re-plan that fails (e.g. a column of an unsupported type) keeps
    /// the current plan and is reported once per column set.
    pub async fn watch(self: Arc<Self>, every: Duration, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut reported: Option<BTreeSet<String>> = None;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let Some(columns) = self.table_columns().await else {
                continue;
            };
            let current = self.current();
            if columns == current.columns || reported.as_ref() == Some(&columns) {
                continue;
            }
            if let Err(error) = self.replan(current.generation).await {
                tracing::warn!(
                    pipeline = %self.pipeline.name,
                    error,
                    "the table changed but cannot be re-planned; still writing the columns planned before"
                );
                super::metrics::note_error(
                    &self.pipeline.name,
                    &format!("table changed, not re-planned: {error}"),
                );
                reported = Some(columns);
            } else {
                reported = None;
            }
        }
    }

    /// The table's column names as `system_schema` has them now (None if unreadable).
    async fn table_columns(&self) -> Option<BTreeSet<String>> {
        let rows = self
            .session
            .query_unpaged(
                "SELECT column_name FROM system_schema.columns \
                 WHERE keyspace_name = ? AND table_name = ?",
                (
                    self.pipeline.keyspace.as_str(),
                    self.pipeline.table.as_str(),
                ),
            )
            .await
            .ok()?
            .into_rows_result()
            .ok()?;
        let columns: BTreeSet<String> = rows
            .rows::<(String,)>()
            .ok()?
            .filter_map(|r| r.ok().map(|(c,)| c))
            .collect();
        (!columns.is_empty()).then_some(columns)
    }
}

/// Plans the table's columns and prepares the pipeline's statements for them.
async fn prepare(
    session: &Session,
    pipeline: &PipelineConfig,
    config_key: &str,
    generation: u64,
) -> Result<Prepared, StreamError> {
    let table = format!("{}.{}", pipeline.keyspace, pipeline.table);
    let schema_err = |detail: String| StreamError::Schema {
        table: table.clone(),
        detail,
    };
    let columns = table_columns(session, pipeline).await?;
    let counter = columns.iter().any(TableColumn::is_counter);
    if counter {
        let timed = [mapping::TTL, mapping::TIMESTAMP]
            .into_iter()
            .find(|k| pipeline.columns.contains_key(*k))
            .map(|k| format!("columns.{k}"));
        if let Some(option) = timed.or(pipeline.ttl.map(|_| "ttl".to_string())) {
            return Err(schema_err(format!(
                "it is a counter table, and Cassandra takes no TTL or write time for counters (fix: remove `{config_key}.{option}`)"
            )));
        }
    }
    let udts = UdtCatalog::load(session, &pipeline.keyspace)
        .await
        .map_err(|e| schema_err(format!("cannot read its user-defined types: {e}")))?;
    let keys = key_plan(pipeline, config_key, &columns, &udts).map_err(schema_err)?;
    let (plan, cql, shape, statement) = match &pipeline.query {
        Some(query) => {
            let query_err = |detail: String| StreamError::Query {
                key: format!("{config_key}.query"),
                detail,
            };
            let prepared = session
                .prepare(query.as_str())
                .await
                .map_err(|e| query_err(format!("Cassandra refuses it: {e}")))?;
            let pk: Vec<usize> = prepared
                .get_variable_pk_indexes()
                .iter()
                .map(|i| usize::from(i.index))
                .collect();
            let markers: Vec<custom_query::Marker> = prepared
                .get_variable_col_specs()
                .iter()
                .enumerate()
                .map(|(i, spec)| {
                    (
                        spec.name().to_string(),
                        custom_query::cql_type_text(spec.typ()),
                        pk.contains(&i),
                    )
                })
                .collect();
            // The USING markers are cassflow's to fill; the mapping fills the others.
            let using = custom_query::using_markers(query);
            let (markers, shape) = custom_query::split_using(markers, &using).map_err(query_err)?;
            let table_keys = statement::key_columns(&columns);
            custom_query::check_query_markers(&markers, &using, pipeline, &table_keys)
                .map_err(query_err)?;
            let plan = custom_query::query_plan(pipeline, &markers, &udts).map_err(query_err)?;
            (plan, query.clone(), shape, Some(prepared))
        }
        None => {
            check_mapped_columns(pipeline, config_key, &columns).map_err(schema_err)?;
            let mut plan =
                column_plan(pipeline, config_key, &columns, &udts).map_err(schema_err)?;
            if counter {
                // The counters, then the key (the WHERE clause).
                plan.retain(|c| !c.key);
                plan.extend(keys.iter().cloned());
                let (cql, shape) = statement::counter_update(pipeline, &plan);
                (plan, cql, shape, None)
            } else {
                let ttl = pipeline.ttl.is_some() || pipeline.columns.contains_key(mapping::TTL);
                let (cql, shape) = statement::upsert(pipeline, &plan, ttl);
                (plan, cql, shape, None)
            }
        }
    };
    if pipeline.format == RecordFormat::Users {
        check_users_sources(plan.iter().chain(&keys)).map_err(schema_err)?;
    }
    let consistency = consistency(pipeline.consistency);
    let mut write = match statement {
        Some(prepared) => prepared,
        None => prepare_one(session, &cql).await?,
    };
    let idempotent = shape.idempotent(&cql, &plan);
    write.set_is_idempotent(idempotent);
    write.set_consistency(consistency);
    let delete = match pipeline.deletes {
        false => None,
        true => {
            let cql = statement::delete(pipeline, &keys, shape.timed());
            let mut delete = prepare_one(session, &cql).await?;
            delete.set_is_idempotent(!counter);
            delete.set_consistency(consistency);
            Some(delete)
        }
    };
    let mapping = Mapping::new(pipeline, plan, keys).map_err(|e| schema_err(e.to_string()))?;
    Ok(Prepared {
        mapping,
        write,
        shape,
        delete,
        counter,
        idempotent,
        columns: columns.iter().map(|c| c.name.clone()).collect(),
        generation,
    })
}

async fn prepare_one(session: &Session, cql: &str) -> Result<PreparedStatement, StreamError> {
    session
        .prepare(cql)
        .await
        .map_err(|e| StreamError::Prepare {
            cql: cql.to_string(),
            detail: e.to_string(),
        })
}

/// The driver's consistency of the configured one.
fn consistency(c: WriteConsistency) -> Consistency {
    match c {
        WriteConsistency::Any => Consistency::Any,
        WriteConsistency::One => Consistency::One,
        WriteConsistency::Two => Consistency::Two,
        WriteConsistency::Three => Consistency::Three,
        WriteConsistency::Quorum => Consistency::Quorum,
        WriteConsistency::All => Consistency::All,
        WriteConsistency::LocalQuorum => Consistency::LocalQuorum,
        WriteConsistency::EachQuorum => Consistency::EachQuorum,
        WriteConsistency::LocalOne => Consistency::LocalOne,
    }
}

/// Whether a failed write may still have been applied: the coordinator timed out waiting
/// for replicas, or the answer was lost on the way (a timeout, a broken connection).
/// Unavailable, overloaded or refused requests were not applied.
pub fn may_have_been_applied(err: &ExecutionError) -> bool {
    match err {
        ExecutionError::BadQuery(_) | ExecutionError::EmptyPlan => false,
        ExecutionError::LastAttemptError(RequestAttemptError::DbError(db, _)) => matches!(
            db,
            DbError::WriteTimeout { .. } | DbError::ServerError | DbError::ProtocolError
        ),
        ExecutionError::LastAttemptError(
            RequestAttemptError::SerializationError(_)
            | RequestAttemptError::CqlRequestSerialization(_),
        ) => false,
        _ => true,
    }
}

/// Which failures are worth retrying, and whose fault the others are. Reachability, load
/// and time are an outage to wait out; a missing permission concerns every record; an
/// `Invalid` that names the table's shape means the table changed under us; whatever
/// else Cassandra refuses as invalid it will refuse again for this record.
pub fn classify(err: ExecutionError) -> WriteError {
    let text = err.to_string();
    match &err {
        ExecutionError::BadQuery(_) => WriteError::Record(text),
        ExecutionError::LastAttemptError(attempt) => classify_attempt(attempt, text),
        _ => WriteError::Transient(text),
    }
}

fn classify_attempt(attempt: &RequestAttemptError, text: String) -> WriteError {
    match attempt {
        RequestAttemptError::SerializationError(_)
        | RequestAttemptError::CqlRequestSerialization(_) => WriteError::Record(text),
        RequestAttemptError::RepreparedIdChanged { .. } => WriteError::Schema(text),
        RequestAttemptError::DbError(db, message) => match db {
            DbError::Unauthorized | DbError::AuthenticationError | DbError::ConfigError => {
                WriteError::Pipeline(text)
            }
            DbError::Unprepared { .. } => WriteError::Schema(text),
            DbError::Invalid if is_schema_message(message) => WriteError::Schema(text),
            DbError::Invalid
            | DbError::SyntaxError
            | DbError::FunctionFailure { .. }
            | DbError::AlreadyExists { .. } => WriteError::Record(text),
            _ => WriteError::Transient(text),
        },
        _ => WriteError::Transient(text),
    }
}

/// Whether Cassandra's `Invalid` message is about the table's shape rather than the values.
fn is_schema_message(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "undefined column",
        "unknown column",
        "unknown identifier",
        "unconfigured table",
        "does not exist",
    ]
    .iter()
    .any(|p| m.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use scylla::statement::Consistency;

    fn db(error: DbError, message: &str) -> WriteError {
        classify(ExecutionError::LastAttemptError(
            RequestAttemptError::DbError(error, message.into()),
        ))
    }

    fn kind(e: &WriteError) -> &'static str {
        match e {
            WriteError::Transient(_) => "transient",
            WriteError::Schema(_) => "schema",
            WriteError::Pipeline(_) => "pipeline",
            WriteError::Record(_) => "record",
        }
    }

    #[test]
    fn a_missing_permission_pauses_the_pipeline_instead_of_dead_lettering() {
        let e = db(
            DbError::Unauthorized,
            "User app has no MODIFY permission on <table ks.t> or any of its parents",
        );
        assert_eq!(kind(&e), "pipeline");
        assert_eq!(kind(&db(DbError::AuthenticationError, "bad")), "pipeline");
        assert_eq!(kind(&db(DbError::ConfigError, "cdc")), "pipeline");
    }

    #[test]
    fn schema_errors_are_told_from_invalid_values() {
        for message in [
            "Undefined column name amount in table ks.events",
            "Unknown identifier amount",
            "unconfigured table events",
            "table events does not exist",
            "keyspace ks does not exist",
        ] {
            assert_eq!(kind(&db(DbError::Invalid, message)), "schema", "{message}");
        }
        let unprepared = db(
            DbError::Unprepared {
                statement_id: vec![1, 2].into(),
            },
            "unprepared",
        );
        assert_eq!(kind(&unprepared), "schema");
        for message in [
            "Key length of 70000 is longer than maximum of 65535",
            "Invalid null value in condition for column id",
        ] {
            assert_eq!(kind(&db(DbError::Invalid, message)), "record", "{message}");
        }
        assert_eq!(kind(&db(DbError::SyntaxError, "x")), "record");
    }

    #[test]
    fn outages_are_transient() {
        let timeout = DbError::WriteTimeout {
            consistency: Consistency::LocalQuorum,
            received: 0,
            required: 1,
            write_type: scylla::errors::WriteType::Simple,
        };
        assert_eq!(kind(&db(timeout, "timeout")), "transient");
        let unavailable = DbError::Unavailable {
            consistency: Consistency::LocalQuorum,
            required: 1,
            alive: 0,
        };
        assert_eq!(kind(&db(unavailable, "down")), "transient");
        assert_eq!(kind(&db(DbError::Overloaded, "busy")), "transient");
        assert_eq!(
            kind(&classify(ExecutionError::RequestTimeout(
                Duration::from_secs(1)
            ))),
            "transient"
        );
        assert_eq!(kind(&classify(ExecutionError::EmptyPlan)), "transient");
    }

    #[test]
    fn a_timeout_may_have_applied_a_write_a_refusal_did_not() {
        let attempt = |e: DbError| {
            ExecutionError::LastAttemptError(RequestAttemptError::DbError(e, "x".into()))
        };
        let timeout = DbError::WriteTimeout {
            consistency: Consistency::LocalQuorum,
            received: 0,
            required: 1,
            write_type: scylla::errors::WriteType::Counter,
        };
        assert!(may_have_been_applied(&attempt(timeout)));
        assert!(may_have_been_applied(&ExecutionError::RequestTimeout(
            Duration::from_secs(1)
        )));
        let unavailable = DbError::Unavailable {
            consistency: Consistency::LocalQuorum,
            required: 1,
            alive: 0,
        };
        assert!(!may_have_been_applied(&attempt(unavailable)));
        assert!(!may_have_been_applied(&attempt(DbError::Overloaded)));
        assert!(!may_have_been_applied(&attempt(DbError::Invalid)));
        assert!(!may_have_been_applied(&ExecutionError::EmptyPlan));
    }
}
