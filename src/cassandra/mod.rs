//! Cassandra sessions as cassflow configures them ([`connect`], the one place a session is
//! opened: contact points, login, TLS from [`tls`]), the CQL type model ([`cql_type`]), and
//! schema management ([`schema`]).

pub mod cql_type;
mod refusal;
pub mod schema;
pub mod tls;
pub mod users_row;

use crate::config::CassandraConfig;
use refusal::{refusal, short_cause, Refusal};
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::policies::speculative_execution::{
    SimpleSpeculativeExecutionPolicy, SpeculativeExecutionPolicy,
};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CassandraError {
    #[error("cannot connect to Cassandra at {contact_points}: {source} (fix: start it with `cassflow local start`, or point cassandra.contact_points at a running node)")]
    Connect {
        contact_points: String,
        #[source]
        source: scylla::errors::NewSessionError,
    },
    #[error("Cassandra at {contact_points} rejected the login of cassandra.username `{user}`: {detail} (fix: set cassandra.username and cassandra.password to a role that may log in, e.g. `CREATE ROLE cassflow WITH PASSWORD = '...' AND LOGIN = true`)")]
    LoginRejected {
        contact_points: String,
        user: String,
        detail: String,
    },
    #[error("Cassandra at {contact_points} asks for a login, but cassandra.username and cassandra.password are not set (fix: set both, e.g. `[cassandra] username = \"cassflow\"` and `password = \"...\"`, or CASSFLOW_CASSANDRA__PASSWORD)")]
    LoginMissing { contact_points: String },
    #[error("Cassandra at {contact_points} presented a certificate that cassandra.tls.ca does not trust: {detail} (fix: point cassandra.tls.ca at the PEM of the CA that signed the nodes' certificates, e.g. `tls = {{ ca = \".cassflow/cassandra/tls/ca.pem\" }}`)")]
    Untrusted {
        contact_points: String,
        detail: String,
    },
    #[error("Cassandra at {contact_points} presented a certificate for another address: {detail} (fix: give the node a certificate whose SAN holds the address in cassandra.contact_points, or set cassandra.tls.verify_hostname = false)")]
    WrongHost {
        contact_points: String,
        detail: String,
    },
    #[error("Cassandra at {contact_points} requires a client certificate it trusts, and cassflow presented none or another: {detail} (fix: set cassandra.tls.cert and cassandra.tls.key to a certificate signed by a CA in the nodes' truststore and its key, e.g. `tls = {{ ca = \"ca.pem\", cert = \"client.pem\", key = \"client-key.pem\" }}`)")]
    ClientCertRefused {
        contact_points: String,
        detail: String,
    },
    #[error(transparent)]
    TlsFile(#[from] tls::TlsFileError),
    #[error("CQL statement failed ({what}): {source}")]
    Execute {
        what: String,
        #[source]
        source: scylla::errors::ExecutionError,
    },
    #[error("unexpected result ({what}): {detail}")]
    Result { what: String, detail: String },
    #[error("Cassandra did not answer within {0:?}")]
    Timeout(Duration),
}

impl CassandraError {
    /// An error waiting cannot cure: a rejected or missing login, an untrusted certificate,
    /// an unusable TLS file. A job stops on it instead of waiting for Cassandra.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            CassandraError::LoginRejected { .. }
                | CassandraError::LoginMissing { .. }
                | CassandraError::Untrusted { .. }
                | CassandraError::WrongHost { .. }
                | CassandraError::ClientCertRefused { .. }
                | CassandraError::TlsFile(_)
        )
    }

    /// Sorts a failed session into what the user must fix (see [`refusal()`]).
    /// With TLS on, a failure the driver's text does not explain is followed by a handshake
    /// of cassflow's own ([`tls::hear_refusal`]) to hear the node's alert.
    async fn from_session(cfg: &CassandraConfig, source: scylla::errors::NewSessionError) -> Self {
        let mut text = crate::error_line::render(&source);
        if let (None, Some(tls)) = (refusal(&text), cfg.tls.clone()) {
            // A dropped TLS connection may be a refusal whose alert the driver did not read.
            let (host, port) = cfg.first_contact_point();
            let host = host.to_string();
            let wait = cfg.request_timeout.min(Duration::from_secs(2));
            let heard =
                tokio::task::spawn_blocking(move || tls::hear_refusal(&tls, &host, port, wait))
                    .await
                    .ok()
                    .flatten();
            if let Some(heard) = heard {
                text = format!("{text}; a handshake of its own heard: {heard}");
            }
        }
        let contact_points = cfg.contact_points.clone();
        let detail = short_cause(&text);
        match refusal(&text) {
            Some(Refusal::Login) => CassandraError::LoginRejected {
                contact_points,
                user: cfg.username.clone().unwrap_or_default(),
                detail,
            },
            Some(Refusal::NoLogin) => CassandraError::LoginMissing { contact_points },
            Some(Refusal::WrongHost) => CassandraError::WrongHost {
                contact_points,
                detail,
            },
            Some(Refusal::Untrusted) => CassandraError::Untrusted {
                contact_points,
                detail,
            },
            Some(Refusal::NoClientCert) => CassandraError::ClientCertRefused {
                contact_points,
                detail,
            },
            None => CassandraError::Connect {
                contact_points,
                source,
            },
        }
    }
}

/// Opens a session to the configured contact points, logged in as `cassandra.username` and
/// over TLS when `cassandra.tls` is set: the only place cassflow opens one.
///
/// The driver keeps only the schema metadata token-aware routing needs (keyspaces, tables,
/// partitioners), not every column's type: cassflow reads the types it writes from
/// `system_schema` itself (`stream::cql_type`), and the scylla 1.9 driver cannot parse a
/// quoted user-defined type name (`list<frozen<"Person">>`), which with full metadata
/// makes every schema refresh, and so every DDL's schema agreement, fail cluster-wide.
pub async fn connect(cfg: &CassandraConfig) -> Result<Session, CassandraError> {
    let mut builder = session_builder(cfg)?;
    for node in cfg.contact_points.split(',').map(str::trim) {
        builder = builder.known_node(node);
    }
    match builder.build().await {
        Ok(session) => Ok(session),
        Err(source) => Err(CassandraError::from_session(cfg, source).await),
    }
}

/// A session builder with the configured timeouts, credentials and TLS, and no node yet.
fn session_builder(cfg: &CassandraConfig) -> Result<SessionBuilder, tls::TlsFileError> {
    let mut builder = SessionBuilder::new()
        .connection_timeout(cfg.request_timeout)
        .fetch_full_schema_metadata(false)
        .default_execution_profile_handle(execution_profile(cfg).into_handle());
    if let (Some(user), Some(password)) = (&cfg.username, &cfg.password) {
        builder = builder.user(user, password);
    }
    if let Some(settings) = &cfg.tls {
        builder = builder.tls_context(Some(tls::context(settings)?));
    }
    Ok(builder)
}

/// The driver's defaults, plus speculative execution of idempotent statements after
/// `cassandra.speculative_delay`: a replica that accepts a write and never answers (a grey
/// failure) would otherwise hold it, and the in-flight permit it took, for the driver's
/// whole 30 s request timeout while the other replicas could have taken it at once.
fn execution_profile(cfg: &CassandraConfig) -> ExecutionProfile {
    let speculative = (!cfg.speculative_delay.is_zero()).then(|| {
        Arc::new(SimpleSpeculativeExecutionPolicy {
            max_retry_count: 2,
            retry_interval: cfg.speculative_delay,
        }) as Arc<dyn SpeculativeExecutionPolicy>
    });
    ExecutionProfile::builder()
        .speculative_execution_policy(speculative)
        .build()
}

/// The server's `release_version`, e.g. `5.0.6`.
pub async fn release_version(session: &Session) -> Result<String, CassandraError> {
    system_local(session, "release_version").await
}

/// The node's `data_center`, e.g. `datacenter1`.
pub async fn data_center(session: &Session) -> Result<String, CassandraError> {
    system_local(session, "data_center").await
}

/// Every row of a query, typed as `R`; `what` says what it was for in an error.
pub(crate) async fn select<R>(
    session: &Session,
    what: &str,
    cql: &str,
    values: impl scylla::serialize::row::SerializeRow,
) -> Result<Vec<R>, CassandraError>
where
    R: for<'f, 'm> scylla::deserialize::row::DeserializeRow<'f, 'm>,
{
    let failed = |detail: String| CassandraError::Result {
        what: what.to_string(),
        detail,
    };
    let rows = session
        .query_unpaged(cql, values)
        .await
        .map_err(|source| CassandraError::Execute {
            what: what.to_string(),
            source,
        })?
        .into_rows_result()
        .map_err(|e| failed(e.to_string()))?;
    let mut out = Vec::new();
    for row in rows.rows::<R>().map_err(|e| failed(e.to_string()))? {
        out.push(row.map_err(|e| failed(e.to_string()))?);
    }
    Ok(out)
}

/// One text column of `system.local` (a fixed name, never input).
async fn system_local(session: &Session, column: &'static str) -> Result<String, CassandraError> {
    let what = format!("SELECT {column} FROM system.local");
    let rows: Vec<(String,)> = select(session, &what, &what, &[]).await?;
    rows.into_iter()
        .next()
        .map(|(value,)| value)
        .ok_or(CassandraError::Result {
            what,
            detail: "no row".into(),
        })
}

/// Connects to the one node at `address` (the driver is kept from its peers) and asks it
/// for its release version, within `timeout`: proof that this node serves CQL, which a
/// node does only once it has joined its ring.
pub async fn probe_node(
    cfg: &CassandraConfig,
    address: std::net::SocketAddr,
    timeout: Duration,
) -> Result<String, CassandraError> {
    let node = CassandraConfig {
        contact_points: address.to_string(),
        ..cfg.clone()
    };
    tokio::time::timeout(timeout, async {
        let built = match scylla::policies::host_filter::AllowListHostFilter::new([address]) {
            Ok(only) => {
                session_builder(cfg)?
                    .known_node_addr(address)
                    .host_filter(std::sync::Arc::new(only))
                    .build()
                    .await
            }
            Err(e) => Err(scylla::errors::NewSessionError::FailedToResolveAnyHostname(
                vec![e.to_string()],
            )),
        };
        let session = match built {
            Ok(session) => session,
            Err(source) => return Err(CassandraError::from_session(&node, source).await),
        };
        release_version(&session).await
    })
    .await
    .map_err(|_| CassandraError::Timeout(timeout))?
}

/// Connects and asks for the release version, within `timeout`: proof that CQL is served.
pub async fn probe(cfg: &CassandraConfig, timeout: Duration) -> Result<String, CassandraError> {
    tokio::time::timeout(timeout, async {
        let session = connect(cfg).await?;
        release_version(&session).await
    })
    .await
    .map_err(|_| CassandraError::Timeout(timeout))?
}
