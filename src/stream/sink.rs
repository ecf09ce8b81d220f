//! The Cassandra side of a pipeline: reads the table's columns from `system_schema`, plans
//! which field fills which column, prepares one upsert (`USING TIMESTAMP ?`, so a replayed
//! or older record never overwrites newer data), and classifies every failed write as
//! transient (retry), a schema change (re-plan, then judge the record), pipeline-wide
//! (pause the pipeline) or a refusal of this record (dead letter).
//!
//! The plan and its prepared statement are swapped as one [`Prepared`] with a generation
//! number when the table changes (a column added or dropped, the table re-created), so
//! records that hit the same change trigger one re-plan, not one each. A column added
//! while the job runs is noticed by reading `system_schema` now and then ([`SinkWriter::watch`]),
//! since Cassandra accepts the old statement and would never say so.

use super::convert::{Cell, ColumnPlan};
use super::cql_type::UdtCatalog;
use super::StreamError;
use crate::cassandra::schema::quote;
use crate::config::{PipelineConfig, RecordFormat};
use scylla::client::session::Session;
use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
use scylla::statement::prepared::PreparedStatement;
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

/// One plan of the table's columns and the upsert prepared for it.
pub struct Prepared {
    pub plan: Vec<ColumnPlan>,
    /// Whether a decimal or varint column needs messages parsed with their numbers' digits
    /// ([`super::convert::parse_json`]).
    pub exact_numbers: bool,
    insert: PreparedStatement,
    /// 0 for the plan made at start, one more for every re-plan.
    pub generation: u64,
}

/// Writes rows of one pipeline into its table.
pub struct SinkWriter {
    session: Arc<Session>,
    pipeline: PipelineConfig,
    current: RwLock<Arc<Prepared>>,
    /// Held while re-planning, so concurrent records wait for one re-plan.
    replanning: tokio::sync::Mutex<Option<FailedReplan>>,
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
    pub async fn open(
        session: Arc<Session>,
        pipeline: &PipelineConfig,
    ) -> Result<Self, StreamError> {
        let prepared = prepare(&session, pipeline, 0).await?;
        Ok(SinkWriter {
            session,
            pipeline: pipeline.clone(),
            current: RwLock::new(Arc::new(prepared)),
            replanning: tokio::sync::Mutex::new(None),
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
    /// generation the caller wrote with): then the newer plan is returned as it is.
    pub async fn replan(&self, seen: u64) -> Result<Arc<Prepared>, String> {
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
        match prepare(&self.session, &self.pipeline, seen + 1).await {
            Ok(next) => {
                let before: BTreeSet<&str> =
                    current.plan.iter().map(|c| c.column.as_str()).collect();
                let after: BTreeSet<&str> = next.plan.iter().map(|c| c.column.as_str()).collect();
                tracing::info!(
                    pipeline = %self.pipeline.name,
                    table = %format!("{}.{}", self.pipeline.keyspace, self.pipeline.table),
                    generation = next.generation,
                    added = ?after.difference(&before).collect::<Vec<_>>(),
                    removed = ?before.difference(&after).collect::<Vec<_>>(),
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

    /// Upserts one row planned by `prepared`: its cells followed by the write time
    /// (microseconds since the epoch, `Cell::BigInt`); see [`with_write_time`].
    pub async fn write(&self, prepared: &Prepared, row: &[Cell<'_>]) -> Result<(), WriteError> {
        // Boxed: the driver's future is ~4 KB, and every record's task would otherwise
        // carry (and move) that much from the moment it is spawned.
        Box::pin(self.session.execute_unpaged(&prepared.insert, row))
            .await
            .map(|_| ())
            .map_err(classify)
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
            let planned: BTreeSet<String> = current.plan.iter().map(|c| c.column.clone()).collect();
            if columns == planned || reported.as_ref() == Some(&columns) {
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

/// Plans the table's columns and prepares the upsert for them.
async fn prepare(
    session: &Session,
    pipeline: &PipelineConfig,
    generation: u64,
) -> Result<Prepared, StreamError> {
    let plan = plan_columns(session, pipeline).await?;
    let columns: Vec<String> = plan.iter().map(|c| quote(&c.column)).collect();
    let marks = vec!["?"; plan.len()].join(", ");
    let cql = format!(
        "INSERT INTO {}.{} ({}) VALUES ({marks}) USING TIMESTAMP ?",
        quote(&pipeline.keyspace),
        quote(&pipeline.table),
        columns.join(", ")
    );
    let mut insert = session
        .prepare(cql.as_str())
        .await
        .map_err(|e| StreamError::Prepare {
            cql: cql.clone(),
            detail: e.to_string(),
        })?;
    insert.set_is_idempotent(true);
    Ok(Prepared {
        exact_numbers: super::convert::needs_exact_numbers(&plan),
        plan,
        insert,
        generation,
    })
}

/// Appends the write time the upsert binds last (`USING TIMESTAMP ?`).
pub fn with_write_time(mut row: Vec<Cell<'_>>, timestamp_micros: i64) -> Vec<Cell<'_>> {
    row.push(Cell::BigInt(timestamp_micros));
    row
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

/// Reads `system_schema.columns` for the table and pairs each column with its field.
async fn plan_columns(
    session: &Session,
    pipeline: &PipelineConfig,
) -> Result<Vec<ColumnPlan>, StreamError> {
    let table = format!("{}.{}", pipeline.keyspace, pipeline.table);
    let query_err = |detail: String| StreamError::Schema {
        table: table.clone(),
        detail,
    };
    let rows = session
        .query_unpaged(
            "SELECT column_name, kind, type FROM system_schema.columns \
             WHERE keyspace_name = ? AND table_name = ?",
            (pipeline.keyspace.as_str(), pipeline.table.as_str()),
        )
        .await
        .map_err(|e| query_err(e.to_string()))?
        .into_rows_result()
        .map_err(|e| query_err(e.to_string()))?;
    let udts = UdtCatalog::load(session, &pipeline.keyspace)
        .await
        .map_err(query_err)?;
    let mut plan = Vec::new();
    for row in rows
        .rows::<(String, String, String)>()
        .map_err(|e| query_err(e.to_string()))?
    {
        let (column, kind, cql_type) = row.map_err(|e| query_err(e.to_string()))?;
        let column_type = udts
            .parse(&cql_type)
            .map_err(|e| query_err(format!("column `{column}`: {e}")))?;
        let field = pipeline
            .columns
            .get(&column)
            .cloned()
            .unwrap_or_else(|| column.clone());
        plan.push(ColumnPlan {
            key: kind == "partition_key" || kind == "clustering",
            column,
            field,
            kind: column_type,
            epoch_unit: pipeline.epoch_unit,
        });
    }
    if plan.is_empty() {
        return Err(query_err(
            "the table does not exist (fix: create it, or use format = \"users\" to have \
             cassflow create it)"
                .into(),
        ));
    }
    for mapped in pipeline.columns.keys() {
        if !plan.iter().any(|c| &c.column == mapped) {
            return Err(query_err(format!(
                "pipelines.columns names column `{mapped}`, which the table does not have"
            )));
        }
    }
    if pipeline.format == RecordFormat::Users {
        let fields = crate::record::FIELDS;
        if let Some(c) = plan.iter().find(|c| !fields.contains(&c.field.as_str())) {
            if c.key {
                return Err(query_err(format!(
                    "key column `{}` reads field `{}`, which user records do not have",
                    c.column, c.field
                )));
            }
        }
    }
    // A stable order makes the prepared statement the same across restarts.
    plan.sort_by(|a, b| a.column.cmp(&b.column));
    Ok(plan)
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
}
