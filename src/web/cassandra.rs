//! Reading Cassandra for the UI: keyspaces and tables from `system_schema`, one page of a
//! table's rows at a time (resumed with the driver's paging state, which travels through
//! the page's URL as base64), and row counts. Keyspace and table names from a request are
//! used only after `system_schema` confirms they exist, and always double-quoted.
//!
//! The session is opened on first use and kept; if Cassandra is down the page says so
//! and the next request tries again.

use super::WebError;
use crate::cassandra::schema::quote;
use crate::config::CassandraConfig;
use base64::Engine;
use scylla::client::session::Session;
use scylla::response::{PagingState, PagingStateResponse};
use scylla::statement::unprepared::Statement;
use scylla::value::{CqlValue, Row};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// Keyspaces Cassandra keeps for itself.
pub const SYSTEM_KEYSPACES: [&str; 6] = [
    "system",
    "system_auth",
    "system_distributed",
    "system_schema",
    "system_traces",
    "system_views",
];

#[derive(Debug, Clone, Serialize)]
pub struct Keyspace {
    pub name: String,
    pub system: bool,
    pub tables: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Column {
    pub name: String,
    /// `partition_key`, `clustering` or `regular`.
    pub kind: String,
    pub cql_type: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RowsPage {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
    /// When each row was written (write time of its first regular column), ms since epoch.
    pub written_at: Vec<Option<i64>>,
    /// Opaque token for the next page (URL-safe base64 of the driver's paging state).
    pub next_page: Option<String>,
}

pub struct CassandraBrowser {
    config: CassandraConfig,
    session: tokio::sync::Mutex<Option<Arc<Session>>>,
}

fn cql_err(what: &str) -> impl Fn(scylla::errors::ExecutionError) -> WebError + '_ {
    move |e| WebError::Cassandra(format!("{what}: {e}"))
}

fn rows_of(
    result: scylla::response::query_result::QueryResult,
    what: &str,
) -> Result<Vec<Row>, WebError> {
    let rows = result
        .into_rows_result()
        .map_err(|e| WebError::Cassandra(format!("{what}: {e}")))?;
    rows.rows::<Row>()
        .map_err(|e| WebError::Cassandra(format!("{what}: {e}")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| WebError::Cassandra(format!("{what}: {e}")))
}

fn text(v: &Option<CqlValue>) -> String {
    match v {
        Some(CqlValue::Text(s) | CqlValue::Ascii(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// A value as a person reads it: text unquoted, timestamps in RFC 3339, the rest as CQL.
pub fn display(v: &CqlValue) -> String {
    match v {
        CqlValue::Text(s) | CqlValue::Ascii(s) => s.clone(),
        CqlValue::Timestamp(t) => chrono::DateTime::from_timestamp_millis(t.0)
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_else(|| t.0.to_string()),
        other => other.to_string(),
    }
}

impl CassandraBrowser {
    pub fn new(config: &CassandraConfig) -> Self {
        CassandraBrowser {
            config: config.clone(),
            session: tokio::sync::Mutex::new(None),
        }
    }

    pub async fn session(&self) -> Result<Arc<Session>, WebError> {
        let mut slot = self.session.lock().await;
        if let Some(s) = slot.as_ref() {
            return Ok(s.clone());
        }
        let session = Arc::new(
            crate::cassandra::connect(&self.config)
                .await
                .map_err(|e| WebError::Cassandra(e.to_string()))?,
        );
        *slot = Some(session.clone());
        Ok(session)
    }

    /// Runs one unpaged query and collects its rows; `what` names it in errors.
    async fn query_rows(
        &self,
        session: &Session,
        cql: String,
        values: impl scylla::serialize::row::SerializeRow,
        timeout: Duration,
        what: &str,
    ) -> Result<Vec<Row>, WebError> {
        let st = self.statement(cql, timeout);
        let result = session
            .query_unpaged(st, values)
            .await
            .map_err(cql_err(what))?;
        rows_of(result, what)
    }

    fn statement(&self, cql: String, timeout: Duration) -> Statement {
        let mut st = Statement::new(cql);
        st.set_request_timeout(Some(timeout));
        st
    }

    /// Cassandra's release version, if it answers within `timeout`.
    pub async fn reachable(&self, timeout: Duration) -> Result<String, WebError> {
        tokio::time::timeout(timeout, async {
            let session = self.session().await?;
            crate::cassandra::release_version(&session)
                .await
                .map_err(|e| WebError::Cassandra(e.to_string()))
        })
        .await
        .map_err(|_| WebError::Cassandra(format!("no answer within {timeout:?}")))?
    }

    /// Every keyspace with its tables, user keyspaces first.
    pub async fn keyspaces(&self) -> Result<Vec<Keyspace>, WebError> {
        let session = self.session().await?;
        let what = "list tables";
        let timeout = self.config.request_timeout;
        let tables = self
            .query_rows(
                &session,
                "SELECT keyspace_name, table_name FROM system_schema.tables".into(),
                &[],
                timeout,
                what,
            )
            .await?;
        let names = self
            .query_rows(
                &session,
                "SELECT keyspace_name FROM system_schema.keyspaces".into(),
                &[],
                timeout,
                what,
            )
            .await?;
        let mut out: Vec<Keyspace> = names
            .iter()
            .map(|r| {
                let name = r.columns.first().map(text).unwrap_or_default();
                Keyspace {
                    system: SYSTEM_KEYSPACES.contains(&name.as_str()),
                    tables: tables
                        .iter()
                        .filter(|t| t.columns.first().map(text).as_deref() == Some(name.as_str()))
                        .map(|t| t.columns.get(1).map(text).unwrap_or_default())
                        .collect(),
                    name,
                }
            })
            .collect();
        for k in &mut out {
            k.tables.sort();
        }
        out.sort_by(|a, b| (a.system, &a.name).cmp(&(b.system, &b.name)));
        Ok(out)
    }

    /// The table's columns, primary key first; `NotFound` if the table does not exist.
    pub async fn columns(&self, keyspace: &str, table: &str) -> Result<Vec<Column>, WebError> {
        let session = self.session().await?;
        let what = "read the table's columns";
        let rows = self
            .query_rows(
                &session,
                "SELECT column_name, kind, type, position FROM system_schema.columns \
                 WHERE keyspace_name = ? AND table_name = ?"
                    .into(),
                (keyspace, table),
                self.config.request_timeout,
                what,
            )
            .await?;
        if rows.is_empty() {
            return Err(WebError::NotFound(format!("table {keyspace}.{table}")));
        }
        let mut cols: Vec<(u8, i32, Column)> = rows
            .iter()
            .map(|r| {
                let kind = r.columns.get(1).map(text).unwrap_or_default();
                let rank = match kind.as_str() {
                    "partition_key" => 0,
                    "clustering" => 1,
                    _ => 2,
                };
                let position = match r.columns.get(3) {
                    Some(Some(CqlValue::Int(p))) => *p,
                    _ => 0,
                };
                let column = Column {
                    name: r.columns.first().map(text).unwrap_or_default(),
                    kind,
                    cql_type: r.columns.get(2).map(text).unwrap_or_default(),
                };
                (rank, position, column)
            })
            .collect();
        cols.sort_by(|a, b| (a.0, a.1, &a.2.name).cmp(&(b.0, b.1, &b.2.name)));
        Ok(cols.into_iter().map(|c| c.2).collect())
    }

    /// One page of rows, starting at `page` (a token from the previous page) or the start.
    /// Within the page, rows are ordered newest write first.
    pub async fn rows(
        &self,
        keyspace: &str,
        table: &str,
        page: Option<&str>,
        page_size: i32,
    ) -> Result<RowsPage, WebError> {
        let columns = self.columns(keyspace, table).await?;
        let stamp = columns
            .iter()
            .find(|c| c.kind == "regular" && !c.cql_type.contains('<') && c.cql_type != "counter");
        let mut select: Vec<String> = columns.iter().map(|c| quote(&c.name)).collect();
        if let Some(c) = stamp {
            select.push(format!("WRITETIME({})", quote(&c.name)));
        }
        let cql = format!(
            "SELECT {} FROM {}.{}",
            select.join(", "),
            quote(keyspace),
            quote(table)
        );
        let mut st = self.statement(cql, self.config.request_timeout);
        st.set_page_size(page_size.clamp(1, 1000));
        let paging = match page {
            Some(token) if !token.is_empty() => PagingState::new_from_raw_bytes(
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(token)
                    .map_err(|_| WebError::BadRequest("bad page token".into()))?,
            ),
            _ => PagingState::start(),
        };
        let session = self.session().await?;
        let what = "read rows";
        let (result, next) = session
            .query_single_page(st, &[], paging)
            .await
            .map_err(cql_err(what))?;
        let n = columns.len();
        let mut rows: Vec<(Option<i64>, Vec<Option<String>>)> = rows_of(result, what)?
            .into_iter()
            .map(|r| {
                let written = match r.columns.get(n) {
                    Some(Some(CqlValue::BigInt(micros))) => Some(micros / 1000),
                    _ => None,
                };
                let values = r
                    .columns
                    .iter()
                    .take(n)
                    .map(|v| v.as_ref().map(display))
                    .collect();
                (written, values)
            })
            .collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.0));
        let next_page = match next {
            PagingStateResponse::HasMorePages { state } => state
                .as_bytes_slice()
                .map(|b| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b.as_ref())),
            PagingStateResponse::NoMorePages => None,
        };
        Ok(RowsPage {
            columns: columns.into_iter().map(|c| c.name).collect(),
            written_at: rows.iter().map(|r| r.0).collect(),
            rows: rows.into_iter().map(|r| r.1).collect(),
            next_page,
        })
    }

    /// `SELECT COUNT(*)` of the table (a full scan: bounded by a 20 s timeout).
    pub async fn count(&self, keyspace: &str, table: &str) -> Result<i64, WebError> {
        self.columns(keyspace, table).await?;
        let session = self.session().await?;
        let cql = format!("SELECT COUNT(*) FROM {}.{}", quote(keyspace), quote(table));
        let rows = self
            .query_rows(&session, cql, &[], Duration::from_secs(20), "count rows")
            .await?;
        match rows.first().and_then(|r| r.columns.first()) {
            Some(Some(CqlValue::BigInt(n))) => Ok(*n),
            _ => Err(WebError::Cassandra("COUNT(*) returned no number".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_with_quotes_doubled() {
        assert_eq!(quote("created_users"), "\"created_users\"");
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn values_display_for_people() {
        assert_eq!(display(&CqlValue::Text("Ann".into())), "Ann");
        assert_eq!(
            display(&CqlValue::Timestamp(scylla::value::CqlTimestamp(0))),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(display(&CqlValue::Int(7)), "7");
    }
}
