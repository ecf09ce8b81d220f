//! DDL: the keyspace and the users table of design.md, created when missing. Identifiers are
//! validated by the config and still always quoted, never spliced bare into CQL.

use super::CassandraError;
use crate::config::CassandraConfig;
use scylla::client::session::Session;

/// Quotes a CQL identifier (`"name"`, with embedded quotes doubled).
pub fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// The replication map for keyspaces cassflow creates.
fn replication(cfg: &CassandraConfig) -> String {
    if cfg.datacenters.is_empty() {
        format!(
            "{{'class': 'SimpleStrategy', 'replication_factor': {}}}",
            cfg.replication_factor
        )
    } else {
        let dcs: Vec<String> = cfg
            .datacenters
            .iter()
            .map(|(dc, n)| format!("'{}': {n}", dc.replace('\'', "''")))
            .collect();
        format!("{{'class': 'NetworkTopologyStrategy', {}}}", dcs.join(", "))
    }
}

async fn execute(session: &Session, cql: String) -> Result<(), CassandraError> {
    session
        .query_unpaged(cql.as_str(), &[])
        .await
        .map_err(|source| CassandraError::Execute { what: cql, source })?;
    Ok(())
}

pub async fn ensure_keyspace(
    session: &Session,
    cfg: &CassandraConfig,
    keyspace: &str,
) -> Result<(), CassandraError> {
    execute(
        session,
        format!(
            "CREATE KEYSPACE IF NOT EXISTS {} WITH replication = {}",
            quote(keyspace),
            replication(cfg)
        ),
    )
    .await
}

/// Creates the users table of design.md unless a table of that name exists (whatever its
/// column types: the seed's all-text table is accepted and converted to per column).
pub async fn ensure_users_table(
    session: &Session,
    keyspace: &str,
    table: &str,
) -> Result<(), CassandraError> {
    execute(
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
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_quotes() {
        assert_eq!(quote("users"), "\"users\"");
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn replication_maps() {
        let mut cfg = CassandraConfig::default();
        assert_eq!(
            replication(&cfg),
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        );
        cfg.datacenters.insert("dc1".into(), 3);
        assert_eq!(
            replication(&cfg),
            "{'class': 'NetworkTopologyStrategy', 'dc1': 3}"
        );
    }
}
