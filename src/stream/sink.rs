//! The Cassandra side of a pipeline: reads the table's columns from `system_schema`, plans
//! which field fills which column, prepares one upsert (`USING TIMESTAMP ?`, so a replayed
//! or older record never overwrites newer data), and classifies every failed write as
//! transient (retry) or permanent (dead letter).

use super::convert::{Cell, ColumnPlan, ColumnType};
use super::StreamError;
use crate::cassandra::schema::quote;
use crate::config::{PipelineConfig, RecordFormat};
use scylla::client::session::Session;
use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
use scylla::statement::prepared::PreparedStatement;
use std::sync::Arc;

/// How a write failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    /// Cassandra is unreachable, overloaded or timed out: retry later.
    Transient(String),
    /// Cassandra rejected this row and always will: dead-letter it.
    Permanent(String),
}

/// Writes rows of one pipeline into its table.
pub struct SinkWriter {
    session: Arc<Session>,
    insert: PreparedStatement,
    plan: Vec<ColumnPlan>,
}

impl SinkWriter {
    /// Plans the columns of the pipeline's table and prepares the upsert.
    pub async fn open(
        session: Arc<Session>,
        pipeline: &PipelineConfig,
    ) -> Result<Self, StreamError> {
        let plan = plan_columns(&session, pipeline).await?;
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
        Ok(SinkWriter {
            session,
            insert,
            plan,
        })
    }

    pub fn plan(&self) -> &[ColumnPlan] {
        &self.plan
    }

    /// Upserts one row: the plan's cells followed by the write time (microseconds since
    /// the epoch, `Cell::BigInt`); see [`with_write_time`].
    pub async fn write(&self, row: &[Cell<'_>]) -> Result<(), WriteError> {
        // Boxed: the driver's future is ~4 KB, and every record's task would otherwise
        // carry (and move) that much from the moment it is spawned.
        Box::pin(self.session.execute_unpaged(&self.insert, row))
            .await
            .map(|_| ())
            .map_err(classify)
    }
}

/// Appends the write time the upsert binds last (`USING TIMESTAMP ?`).
pub fn with_write_time(mut row: Vec<Cell<'_>>, timestamp_micros: i64) -> Vec<Cell<'_>> {
    row.push(Cell::BigInt(timestamp_micros));
    row
}

/// Which failures are worth retrying. A request Cassandra refuses as invalid will be refused
/// again; anything about reachability, load or time is an outage to wait out.
pub fn classify(err: ExecutionError) -> WriteError {
    let text = err.to_string();
    match &err {
        ExecutionError::BadQuery(_) => WriteError::Permanent(text),
        ExecutionError::LastAttemptError(attempt) => match attempt {
            RequestAttemptError::SerializationError(_)
            | RequestAttemptError::CqlRequestSerialization(_) => WriteError::Permanent(text),
            RequestAttemptError::DbError(
                DbError::Invalid
                | DbError::SyntaxError
                | DbError::FunctionFailure { .. }
                | DbError::Unauthorized
                | DbError::ConfigError
                | DbError::AlreadyExists { .. },
                _,
            ) => WriteError::Permanent(text),
            _ => WriteError::Transient(text),
        },
        _ => WriteError::Transient(text),
    }
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
    let mut plan = Vec::new();
    for row in rows
        .rows::<(String, String, String)>()
        .map_err(|e| query_err(e.to_string()))?
    {
        let (column, kind, cql_type) = row.map_err(|e| query_err(e.to_string()))?;
        let Some(column_type) = ColumnType::from_cql(&cql_type) else {
            return Err(query_err(format!(
                "column `{column}` has type {cql_type}, which cassflow cannot fill from JSON \
                 (supported: text, uuid, timestamp, date, int, bigint, smallint, tinyint, \
                 double, float, boolean)"
            )));
        };
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
