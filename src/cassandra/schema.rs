//! DDL: the keyspace and each pipeline's table, created when missing: the users table of
//! docs/record.md for a `users` pipeline, the declared table (`create_table`) for any
//! pipeline that has one. Identifiers are validated by the config and still always quoted,
//! never spliced bare into CQL. A table that exists is never altered. Cassandra checks the
//! CREATE permission even for `IF NOT EXISTS`, so a CREATE refused for want of permission is
//! answered by a look in `system_schema`: a role that may only write an existing table works.
//! (The look comes after the CREATE, never instead of it: a schema row another instance's
//! CREATE has just written can be read before that table is usable, and a prepare then
//! fails with "table does not exist"; a CREATE IF NOT EXISTS waits for it.)

use super::CassandraError;
use crate::config::{
    normalize_schema_type, CassandraConfig, PipelineConfig, RecordFormat, TableDeclaration,
};
use scylla::client::session::Session;

/// Quotes a CQL identifier (`"name"`, with embedded quotes doubled).
pub fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// The replication map for keyspaces cassflow creates. Without a replication factor,
/// SimpleStrategy takes the server's `default_keyspace_rf` (Cassandra 4.1 and newer).
fn replication(cfg: &CassandraConfig) -> String {
    if cfg.datacenters.is_empty() {
        match cfg.replication_factor {
            Some(rf) => format!("{{'class': 'SimpleStrategy', 'replication_factor': {rf}}}"),
            None => "{'class': 'SimpleStrategy'}".into(),
        }
    } else {
        let dcs: Vec<String> = cfg
            .datacenters
            .iter()
            .map(|(dc, n)| format!("'{}': {n}", dc.replace('\'', "''")))
            .collect();
        format!("{{'class': 'NetworkTopologyStrategy', {}}}", dcs.join(", "))
    }
}

/// Tries of one DDL statement on a node that did not run it, and the wait between them.
const DDL_TRIES_PER_NODE: u32 = 10;
const DDL_RETRY_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// Runs one DDL statement on the schema's coordinator: the node of the lowest host id, so
/// that instances started together normally send their `CREATE ... IF NOT EXISTS` to one
/// node, which applies them one after another (the second finds what the first created).
/// Sent to two coordinators at once, before Cassandra 5.1, the same table is created twice
/// under two ids, and the rows written under the id that loses vanish when the schemas
/// merge.
///
/// Only a statement the node cannot run ([`NotRun::Unreachable`]: no connection to it, or
/// it is bootstrapping), after tries half a second apart for five seconds, moves on to the
/// next node. An overloaded node is tried as long, then its refusal is final: it is up, and
/// other instances may be reaching it. Any other answer is final, a timeout or a broken
/// connection included: the statement may be applied there, and sending it to a node that
/// has not heard of it yet would create the second table.
async fn on_schema_coordinator(session: &Session, cql: &str) -> Result<(), CassandraError> {
    use scylla::policies::load_balancing::{NodeIdentifier, SingleTargetLoadBalancingPolicy};
    let mut nodes = session.get_cluster_state().get_nodes_info().to_vec();
    nodes.sort_by_key(|node| node.host_id);
    let mut unreachable = None;
    for node in nodes {
        let mut statement = scylla::statement::Statement::new(cql);
        statement.set_load_balancing_policy(Some(SingleTargetLoadBalancingPolicy::new(
            NodeIdentifier::HostId(node.host_id),
            None,
        )));
        for attempt in 1..=DDL_TRIES_PER_NODE {
            let e = match session.query_unpaged(statement.clone(), &[]).await {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            let Some(why) = not_run(&e) else {
                return Err(CassandraError::Execute {
                    what: cql.to_string(),
                    source: e,
                });
            };
            tracing::debug!(node = %node.address, attempt, error = %e, "the schema coordinator did not run the statement");
            if attempt == DDL_TRIES_PER_NODE {
                if why == NotRun::Busy {
                    return Err(CassandraError::Execute {
                        what: cql.to_string(),
                        source: e,
                    });
                }
                unreachable = Some(e);
            } else {
                tokio::time::sleep(DDL_RETRY_WAIT).await;
            }
        }
        tracing::warn!(node = %node.address, "the schema coordinator cannot be reached or is bootstrapping: sending the statement to the next node");
    }
    let source = match unreachable {
        Some(e) => e,
        // No node known yet: whichever the driver picks.
        None => match session.query_unpaged(cql, &[]).await {
            Ok(_) => return Ok(()),
            Err(e) => e,
        },
    };
    Err(CassandraError::Execute {
        what: cql.to_string(),
        source,
    })
}

/// Runs a DDL statement on the schema coordinator ([`on_schema_coordinator`]), then waits
/// until the nodes agree on the schema ([`agree`]).
async fn execute(session: &Session, cql: String) -> Result<(), CassandraError> {
    on_schema_coordinator(session, &cql).await?;
    agree(session, &cql).await;
    Ok(())
}

/// Waits until every reachable node has the same schema. The driver waits by itself only
/// after a statement that changed the schema; a `CREATE ... IF NOT EXISTS` that found what
/// another instance had just created changes nothing and returns at once, while the other
/// nodes may not know the table yet: replicas then refuse this instance's first writes
/// (`INCOMPATIBLE_SCHEMA`), and a write refused by some replicas can be applied on others.
/// Not reaching agreement (a node that does not answer) is logged, not fatal: the statement
/// ran, and writes that fail meanwhile are retried.
async fn agree(session: &Session, cql: &str) {
    if let Err(e) = session.await_schema_agreement().await {
        tracing::warn!(statement = cql, error = %e, "the nodes do not agree on the schema yet; writing anyway (failed writes are retried)");
    }
}

/// Why a node surely did not run a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NotRun {
    /// Never sent (no connection to the node), or refused by a node still bootstrapping.
    Unreachable,
    /// Refused by an overloaded node, before running it.
    Busy,
}

/// Whether, and why, a node surely did not run a statement; None when it may have.
fn not_run(e: &scylla::errors::ExecutionError) -> Option<NotRun> {
    use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
    match e {
        ExecutionError::EmptyPlan | ExecutionError::ConnectionPoolError(_) => {
            Some(NotRun::Unreachable)
        }
        ExecutionError::LastAttemptError(RequestAttemptError::DbError(db, _)) => match db {
            DbError::IsBootstrapping => Some(NotRun::Unreachable),
            DbError::Overloaded => Some(NotRun::Busy),
            _ => None,
        },
        _ => None,
    }
}

pub async fn ensure_keyspace(
    session: &Session,
    cfg: &CassandraConfig,
    keyspace: &str,
) -> Result<(), CassandraError> {
    let created = execute(
        session,
        format!(
            "CREATE KEYSPACE IF NOT EXISTS {} WITH replication = {}",
            quote(keyspace),
            replication(cfg)
        ),
    )
    .await;
    match created {
        Err(e) if is_unauthorized(&e) => {
            let existing: Vec<(String,)> = super::select(
                session,
                &format!("looking up keyspace {keyspace}"),
                "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?",
                (keyspace,),
            )
            .await?;
            if existing.is_empty() {
                Err(e)
            } else {
                Ok(())
            }
        }
        other => other,
    }
}

/// Drops `keyspace` and everything in it, if it exists.
pub async fn drop_keyspace(session: &Session, keyspace: &str) -> Result<(), CassandraError> {
    execute(
        session,
        format!("DROP KEYSPACE IF EXISTS {}", quote(keyspace)),
    )
    .await
}

/// The names of the keyspaces that start with `prefix`.
pub async fn keyspaces_starting_with(
    session: &Session,
    prefix: &str,
) -> Result<Vec<String>, CassandraError> {
    let all: Vec<(String,)> = super::select(
        session,
        "listing keyspaces",
        "SELECT keyspace_name FROM system_schema.keyspaces",
        (),
    )
    .await?;
    Ok(all
        .into_iter()
        .map(|(name,)| name)
        .filter(|name| name.starts_with(prefix))
        .collect())
}

/// Whether Cassandra refused a statement for want of permission.
fn is_unauthorized(e: &CassandraError) -> bool {
    use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
    matches!(
        e,
        CassandraError::Execute {
            source: ExecutionError::LastAttemptError(RequestAttemptError::DbError(
                DbError::Unauthorized,
                _
            )),
            ..
        }
    )
}

/// What [`ensure_pipeline_table`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableReady {
    /// The users table (created unless it existed).
    Users,
    /// The declared table was created, with its keyspace and types.
    Created,
    /// The declared table existed and was left as it is.
    Existed,
    /// Nothing is declared for a `json` pipeline: its table must exist already.
    Undeclared,
}

/// Creates the pipeline's keyspace and table when missing: the declared table when the
/// pipeline has `create_table` (any format), else the users table for a `users` pipeline;
/// a `json` pipeline without a declaration gets nothing (its table must exist).
pub async fn ensure_pipeline_table(
    session: &Session,
    cfg: &CassandraConfig,
    pipeline: &PipelineConfig,
) -> Result<TableReady, CassandraError> {
    if let Some(declared) = &pipeline.create_table {
        return ensure_declared_table(session, cfg, &pipeline.keyspace, &pipeline.table, declared)
            .await;
    }
    if pipeline.format == RecordFormat::Users {
        ensure_keyspace(session, cfg, &pipeline.keyspace).await?;
        ensure_users_table(session, &pipeline.keyspace, &pipeline.table).await?;
        return Ok(TableReady::Users);
    }
    Ok(TableReady::Undeclared)
}

/// Creates a declared table (its keyspace and user-defined types first) unless a table of
/// that name exists; an existing table is left as it is, with a warning naming the declared
/// columns it lacks or types differently.
pub async fn ensure_declared_table(
    session: &Session,
    cfg: &CassandraConfig,
    keyspace: &str,
    table: &str,
    declared: &TableDeclaration,
) -> Result<TableReady, CassandraError> {
    let invalid = |detail: String| CassandraError::Result {
        what: format!("create_table of {keyspace}.{table}"),
        detail,
    };
    ensure_keyspace(session, cfg, keyspace).await?;
    let existing = table_columns(session, keyspace, table).await?;
    if !existing.is_empty() {
        let mut differences = Vec::new();
        for (column, ty) in &declared.columns {
            let want = declared.schema_spelling(ty).unwrap_or_default();
            match existing.iter().find(|(c, _)| c == column) {
                None => differences.push(format!("{column} is missing")),
                Some((_, have)) if normalize_schema_type(have) != want => {
                    differences.push(format!("{column} is {have}, declared {ty}"))
                }
                Some(_) => {}
            }
        }
        if differences.is_empty() {
            tracing::info!(keyspace, table, "declared table exists");
        } else {
            tracing::warn!(
                keyspace,
                table,
                differences = %differences.join("; "),
                "declared table exists with other columns; it is left as it is"
            );
        }
        return Ok(TableReady::Existed);
    }
    for cql in declared.create_types_cql(keyspace).map_err(invalid)? {
        execute(session, cql).await?;
    }
    execute(
        session,
        declared
            .create_table_cql(keyspace, table)
            .map_err(invalid)?,
    )
    .await?;
    tracing::info!(
        keyspace,
        table,
        columns = declared.columns.len(),
        "declared table created"
    );
    Ok(TableReady::Created)
}

/// The table's columns and their types as `system_schema` spells them (empty: no table).
async fn table_columns(
    session: &Session,
    keyspace: &str,
    table: &str,
) -> Result<Vec<(String, String)>, CassandraError> {
    super::select(
        session,
        &format!("reading the columns of {keyspace}.{table}"),
        "SELECT column_name, type FROM system_schema.columns \
         WHERE keyspace_name = ? AND table_name = ?",
        (keyspace, table),
    )
    .await
}

/// Creates the users table of docs/record.md unless a table of that name exists (whatever its
/// column types: the seed's all-text table is accepted and converted to per column).
pub async fn ensure_users_table(
    session: &Session,
    keyspace: &str,
    table: &str,
) -> Result<(), CassandraError> {
    let created = execute(
        session,
        format!(
            "CREATE TABLE IF NOT EXISTS {}.{} (\
             id uuid PRIMARY KEY, first_name text, last_name text, gender text, address text, \
             post_code text, email text, username text, dob timestamp, registered_date timestamp, \
             phone text, picture text)",
            quote(keyspace),
            quote(table)
        ),
    )
    .await;
    match created {
        Err(e) if is_unauthorized(&e) => {
            if table_columns(session, keyspace, table).await?.is_empty() {
                Err(e)
            } else {
                Ok(())
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_statements_surely_not_run_are_tried_again() {
        use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
        let db = |e: DbError| {
            ExecutionError::LastAttemptError(RequestAttemptError::DbError(e, "".into()))
        };
        assert_eq!(
            not_run(&ExecutionError::EmptyPlan),
            Some(NotRun::Unreachable)
        );
        assert_eq!(
            not_run(&db(DbError::IsBootstrapping)),
            Some(NotRun::Unreachable)
        );
        assert_eq!(not_run(&db(DbError::Overloaded)), Some(NotRun::Busy));
        // Sent and unanswered: it may be applied there.
        let timeout = ExecutionError::RequestTimeout(std::time::Duration::from_secs(12));
        assert_eq!(not_run(&timeout), None);
        assert_eq!(not_run(&db(DbError::Unauthorized)), None);
        assert_eq!(not_run(&db(DbError::ServerError)), None);
    }

    #[test]
    fn quoting_escapes_quotes() {
        assert_eq!(quote("users"), "\"users\"");
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn replication_maps() {
        let mut cfg = CassandraConfig::default();
        assert_eq!(replication(&cfg), "{'class': 'SimpleStrategy'}");
        cfg.replication_factor = Some(3);
        assert_eq!(
            replication(&cfg),
            "{'class': 'SimpleStrategy', 'replication_factor': 3}"
        );
        cfg.datacenters.insert("dc1".into(), 3);
        assert_eq!(
            replication(&cfg),
            "{'class': 'NetworkTopologyStrategy', 'dc1': 3}"
        );
    }
}
