//! `[cassandra] tls`: client-to-node TLS as a user configures it (which files, whether the
//! node's address is checked). Reading and parsing the files is `cassandra::tls`'s job, at
//! connect time; this module only holds the shape and the rules that need no file.

use super::ConfigError;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// TLS to Cassandra's native port (its `client_encryption_options`), e.g.
/// `tls = { ca = ".cassflow/cassandra/tls/ca.pem" }`. Set: every session cassflow opens
/// (stream, checks, web, bench) speaks TLS and checks the node's certificate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CassandraTls {
    /// PEM file of the CA (or CAs) that signed the nodes' certificates; unset: the system's
    /// trusted CAs. `cassflow local` with `local.cassandra_tls` writes its CA to
    /// `<local.data_dir>/cassandra/tls/ca.pem`.
    pub ca: Option<PathBuf>,
    /// PEM file of cassflow's own certificate (and chain), for nodes that require client
    /// certificates (`require_client_auth`); needs `key`.
    pub cert: Option<PathBuf>,
    /// PEM file of the private key of `cert` (unencrypted).
    pub key: Option<PathBuf>,
    /// Check that a node's certificate names the address cassflow connects to (an IP
    /// address SAN, e.g. `IP:10.0.0.5`); `false` trusts any certificate the CA signed.
    /// Default `true`.
    pub verify_hostname: bool,
}

impl Default for CassandraTls {
    fn default() -> Self {
        CassandraTls {
            ca: None,
            cert: None,
            key: None,
            verify_hostname: true,
        }
    }
}

impl CassandraTls {
    /// `cert` and `key` come together.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let (missing, given) = match (&self.cert, &self.key) {
            (Some(_), None) => ("cassandra.tls.key", "cassandra.tls.cert"),
            (None, Some(_)) => ("cassandra.tls.cert", "cassandra.tls.key"),
            _ => return Ok(()),
        };
        Err(ConfigError::Invalid {
            key: missing.into(),
            origin: "the configuration".into(),
            problem: format!("is unset, but {given} is set (a client certificate needs both)"),
            fix: "set both, e.g. `tls = { ca = \"ca.pem\", cert = \"client.pem\", key = \"client-key.pem\" }`, or neither".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_certificate_needs_its_key() {
        let tls = CassandraTls {
            cert: Some("client.pem".into()),
            ..CassandraTls::default()
        };
        let text = tls.validate().unwrap_err().to_string();
        assert!(text.contains("cassandra.tls.key"), "{text}");
        let both = CassandraTls {
            key: Some("key.pem".into()),
            ..tls
        };
        assert!(both.validate().is_ok());
        assert!(CassandraTls::default().validate().is_ok());
    }
}
