//! The TLS context of Cassandra sessions, built from `cassandra.tls` for the scylla driver's
//! OpenSSL backend (the OpenSSL that rdkafka's `ssl` links already). Owns reading and
//! checking the PEM files, so that a bad file is reported once, naming its key and the fix;
//! it does not connect (that is [`super::connect`]).

use crate::config::CassandraTls;
use openssl::pkey::PKey;
use openssl::ssl::{SslConnector, SslConnectorBuilder, SslMethod, SslVerifyMode};
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::X509;
use scylla::client::session::{OpenSsl010Config, TlsContext};
use std::path::{Path, PathBuf};

/// A `cassandra.tls` file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{key} `{}`: {problem} (fix: {fix})", path.display())]
pub struct TlsFileError {
    /// `cassandra.tls.ca`, `.cert` or `.key`.
    pub key: &'static str,
    pub path: PathBuf,
    pub problem: String,
    pub fix: String,
}

/// `X509_V_ERR_HOSTNAME_MISMATCH` and `X509_V_ERR_IP_ADDRESS_MISMATCH` of OpenSSL's
/// x509_vfy.h: the only verification failures `verify_hostname = false` forgives.
const NAME_MISMATCH: [i32; 2] = [62, 64];

/// The driver's TLS context for `tls`: trust `tls.ca` (else the system's CAs), present
/// `tls.cert` when given, and check the node's address unless `verify_hostname` is off.
pub fn context(tls: &CassandraTls) -> Result<TlsContext, TlsFileError> {
    let mut builder = SslConnector::builder(SslMethod::tls_client())
        .map_err(|e| setup_failed("cassandra.tls", Path::new(""), e))?;
    if let Some(ca) = &tls.ca {
        trust(&mut builder, ca)?;
    }
    if let (Some(cert), Some(key)) = (&tls.cert, &tls.key) {
        present(&mut builder, cert, key)?;
    }
    if !tls.verify_hostname {
        // The driver asks OpenSSL to match the node's IP address; forgive only that check.
        builder.set_verify_callback(SslVerifyMode::PEER, |chain_ok, store| {
            chain_ok || NAME_MISMATCH.contains(&store.error().as_raw())
        });
    }
    Ok(TlsContext::from(OpenSsl010Config::new(builder)))
}

/// Trusts exactly the certificates of the PEM file `ca`.
fn trust(builder: &mut SslConnectorBuilder, ca: &Path) -> Result<(), TlsFileError> {
    const KEY: &str = "cassandra.tls.ca";
    let certs = read_certificates(KEY, ca)?;
    let mut store = X509StoreBuilder::new().map_err(|e| setup_failed(KEY, ca, e))?;
    for cert in certs {
        store.add_cert(cert).map_err(|e| setup_failed(KEY, ca, e))?;
    }
    builder.set_cert_store(store.build());
    Ok(())
}

/// Presents the client certificate `cert` (its first PEM block; the rest is its chain),
/// signed by `key`.
fn present(builder: &mut SslConnectorBuilder, cert: &Path, key: &Path) -> Result<(), TlsFileError> {
    const CERT: &str = "cassandra.tls.cert";
    const KEY: &str = "cassandra.tls.key";
    let mut chain = read_certificates(CERT, cert)?.into_iter();
    let leaf = chain.next().ok_or_else(|| no_pem(CERT, cert))?;
    builder
        .set_certificate(&leaf)
        .map_err(|e| setup_failed(CERT, cert, e))?;
    for extra in chain {
        builder
            .add_extra_chain_cert(extra)
            .map_err(|e| setup_failed(CERT, cert, e))?;
    }
    let pem = read(KEY, key)?;
    let private = PKey::private_key_from_pem(&pem).map_err(|e| TlsFileError {
        key: KEY,
        path: key.to_path_buf(),
        problem: format!("is not an unencrypted PEM private key ({e})"),
        fix: "point it at the key of cassandra.tls.cert, e.g. `openssl pkey -in key.pem -out client-key.pem` to decrypt one".into(),
    })?;
    builder
        .set_private_key(&private)
        .map_err(|e| setup_failed(KEY, key, e))?;
    builder.check_private_key().map_err(|_| TlsFileError {
        key: KEY,
        path: key.to_path_buf(),
        problem: format!("is not the key of cassandra.tls.cert `{}`", cert.display()),
        fix: "give the key the certificate was made for".into(),
    })
}

/// Every certificate of a PEM file; at least one.
fn read_certificates(key: &'static str, path: &Path) -> Result<Vec<X509>, TlsFileError> {
    let pem = read(key, path)?;
    let certs = X509::stack_from_pem(&pem).map_err(|e| TlsFileError {
        key,
        path: path.to_path_buf(),
        problem: format!("is not a readable PEM certificate file ({e})"),
        fix: "give a file of `-----BEGIN CERTIFICATE-----` blocks, e.g. `keytool -exportcert -rfc -alias ca -keystore ca.p12 -file ca.pem`".into(),
    })?;
    if certs.is_empty() {
        return Err(no_pem(key, path));
    }
    Ok(certs)
}

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsFileError> {
    std::fs::read(path).map_err(|e| TlsFileError {
        key,
        path: path.to_path_buf(),
        problem: format!("cannot be read: {e}"),
        fix: format!(
            "point {key} at an existing PEM file (a relative path is read from the working directory), e.g. `tls = {{ ca = \".cassflow/cassandra/tls/ca.pem\" }}`"
        ),
    })
}

fn no_pem(key: &'static str, path: &Path) -> TlsFileError {
    TlsFileError {
        key,
        path: path.to_path_buf(),
        problem: "holds no PEM certificate".into(),
        fix: "give a file of `-----BEGIN CERTIFICATE-----` blocks".into(),
    }
}

fn setup_failed(key: &'static str, path: &Path, e: openssl::error::ErrorStack) -> TlsFileError {
    TlsFileError {
        key,
        path: path.to_path_buf(),
        problem: format!("OpenSSL refused it: {e}"),
        fix: "check the file with `openssl x509 -in <file> -noout -text`".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls(ca: &Path) -> CassandraTls {
        CassandraTls {
            ca: Some(ca.to_path_buf()),
            ..CassandraTls::default()
        }
    }

    #[test]
    fn a_missing_ca_file_names_its_key() {
        let err = context(&tls(Path::new("/nonexistent/ca.pem")))
            .err()
            .expect("no such file");
        let text = err.to_string();
        assert!(
            text.starts_with("cassandra.tls.ca `/nonexistent/ca.pem`: cannot be read"),
            "{text}"
        );
        assert!(text.contains("fix: "), "{text}");
    }

    #[test]
    fn a_file_without_pem_names_its_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").expect("write");
        let text = context(&tls(&path)).err().expect("no PEM").to_string();
        assert!(text.starts_with("cassandra.tls.ca `"), "{text}");
        assert!(text.contains("PEM"), "{text}");
    }

    #[test]
    fn no_ca_trusts_the_system() {
        assert!(context(&CassandraTls::default()).is_ok());
    }
}
