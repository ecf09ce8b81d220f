//! What a pipeline's table looks like and what fills each of its columns: reads the
//! columns from `system_schema`, pairs each with its compiled source and CQL type, and
//! refuses at start what can never work (a mapped column the table lacks, a type cassflow
//! cannot fill, a user record's field it does not have). Preparing statements is
//! [`super::sink`]'s; the CQL text is [`super::statement`]'s.

use super::convert::ColumnPlan;
use super::mapping;
use super::statement::{self, ColumnKind, TableColumn};
use super::StreamError;
use crate::cassandra::cql_type::{CqlType, UdtCatalog};
use crate::config::PipelineConfig;
use scylla::client::session::Session;

/// `columns.<c>` must name a column of the table (`__ttl` and `__timestamp` aside).
pub fn check_mapped_columns(
    pipeline: &PipelineConfig,
    config_key: &str,
    columns: &[TableColumn],
) -> Result<(), String> {
    for mapped in pipeline.columns.keys() {
        if mapped == mapping::TTL || mapped == mapping::TIMESTAMP {
            continue;
        }
        if !columns.iter().any(|c| &c.name == mapped) {
            return Err(format!(
                "`{config_key}.columns.{mapped}` names a column the table does not have"
            ));
        }
    }
    Ok(())
}

/// The table's type of a column (its user-defined types resolved from `udts`), or why
/// cassflow cannot fill it.
fn column_type(column: &TableColumn, udts: &UdtCatalog) -> Result<CqlType, String> {
    udts.parse(&column.cql_type)
        .map_err(|e| format!("column `{}`: {e}", column.name))
}

fn plan_of(
    pipeline: &PipelineConfig,
    config_key: &str,
    column: &TableColumn,
    udts: &UdtCatalog,
) -> Result<ColumnPlan, String> {
    let source = mapping::source_of(pipeline, &column.name)
        .map_err(|e| format!("{config_key}.columns.{}: {e}", column.name))?;
    let mut plan = ColumnPlan::new(&column.name, source, column_type(column, udts)?);
    plan.key = column.kind.is_key();
    plan.static_ = column.kind == ColumnKind::Static;
    plan.epoch_unit = pipeline.epoch_unit;
    Ok(plan)
}

/// Every column of the table, sorted by name (a stable statement across restarts).
pub fn column_plan(
    pipeline: &PipelineConfig,
    config_key: &str,
    columns: &[TableColumn],
    udts: &UdtCatalog,
) -> Result<Vec<ColumnPlan>, String> {
    let mut plan = columns
        .iter()
        .map(|c| plan_of(pipeline, config_key, c, udts))
        .collect::<Result<Vec<_>, _>>()?;
    plan.sort_by(|a, b| a.column.cmp(&b.column));
    Ok(plan)
}

/// The primary key columns in key order.
pub fn key_plan(
    pipeline: &PipelineConfig,
    config_key: &str,
    columns: &[TableColumn],
    udts: &UdtCatalog,
) -> Result<Vec<ColumnPlan>, String> {
    statement::key_columns(columns)
        .into_iter()
        .map(|c| plan_of(pipeline, config_key, c, udts))
        .collect()
}

/// A user record is flat: a key column reading one of its fields must name a field it has,
/// and no column can read a nested path.
pub fn check_users_sources<'a>(plan: impl Iterator<Item = &'a ColumnPlan>) -> Result<(), String> {
    let fields = crate::record::FIELDS;
    for c in plan {
        if let mapping::Source::Value(_) = c.source {
            match c.source.value_field() {
                None => {
                    return Err(format!(
                        "column `{}` reads `{}`, but user records are flat (fix: name one of their fields, e.g. `email`)",
                        c.column, c.field
                    ))
                }
                Some(f) if c.key && !fields.contains(&f) => {
                    return Err(format!(
                        "key column `{}` reads field `{f}`, which user records do not have",
                        c.column
                    ))
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}

/// The table's columns as `system_schema.columns` has them (an error if it has none).
pub async fn table_columns(
    session: &Session,
    pipeline: &PipelineConfig,
) -> Result<Vec<TableColumn>, StreamError> {
    let table = format!("{}.{}", pipeline.keyspace, pipeline.table);
    let query_err = |detail: String| StreamError::Schema {
        table: table.clone(),
        detail,
    };
    let rows = session
        .query_unpaged(
            "SELECT column_name, kind, type, position FROM system_schema.columns \
             WHERE keyspace_name = ? AND table_name = ?",
            (pipeline.keyspace.as_str(), pipeline.table.as_str()),
        )
        .await
        .map_err(|e| query_err(e.to_string()))?
        .into_rows_result()
        .map_err(|e| query_err(e.to_string()))?;
    let mut columns = Vec::new();
    for row in rows
        .rows::<(String, String, String, i32)>()
        .map_err(|e| query_err(e.to_string()))?
    {
        let (name, kind, cql_type, position) = row.map_err(|e| query_err(e.to_string()))?;
        columns.push(TableColumn {
            name,
            kind: ColumnKind::from_schema(&kind),
            cql_type,
            position,
        });
    }
    if columns.is_empty() {
        return Err(query_err(
            "the table does not exist (fix: declare it under [pipelines.create_table] to have \
             cassflow create it, e.g. `columns = { order_id = \"uuid\", total = \"decimal\" }` \
             with `partition_key = [\"order_id\"]`, or create it yourself)"
                .into(),
        ));
    }
    Ok(columns)
}
