//! The TLS context of Cassandra sessions, built from `cassandra.tls` for the scylla driver's
//! OpenSSL backend (the OpenSSL that rdkafka's `ssl` links already). Owns reading and
//! checking the PEM files, so that a bad file is reported once, naming its key and the fix,
//! and [`hear_refusal`], the handshake that hears why a node dropped a session; sessions
//! themselves are [`super::connect`]'s.

use crate::config::CassandraTls;
use openssl::pkey::PKey;
use openssl::ssl::{SslConnector, SslConnectorBuilder, SslMethod, SslVerifyMode};
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::X509;
use scylla::client::session::{OpenSsl010Config, TlsContext};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

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
    Ok(TlsContext::from(OpenSsl010Config::new(connector(tls)?)))
}

/// The OpenSSL connector of [`context`].
fn connector(tls: &CassandraTls) -> Result<SslConnectorBuilder, TlsFileError> {
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
    Ok(builder)
}

/// What the node at `host:port` says to a TLS handshake of ours that then only listens for
/// up to `wait`: OpenSSL's text of the alert it sent (e.g. `tlsv13 alert certificate
/// required`), or None when it said nothing, took the handshake and waited, or could not be
/// reached. Under TLS 1.3 a node that wants a client certificate finishes the handshake and
/// sends its alert after it; the driver, already writing its first request, may meet the
/// reset of the closed socket instead and report only a broken connection. A client that
/// writes nothing always reads the alert. Blocking; at most about twice `wait`.
pub fn hear_refusal(tls: &CassandraTls, host: &str, port: u16, wait: Duration) -> Option<String> {
    let mut connector = connector(tls).ok()?;
    // Only the alert matters here: trust was already checked by the driver's own handshake.
    connector.set_verify(SslVerifyMode::NONE);
    let connector = connector.build();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addr = (bare, port).to_socket_addrs().ok()?.next()?;
    let tcp = TcpStream::connect_timeout(&addr, wait).ok()?;
    tcp.set_read_timeout(Some(wait)).ok()?;
    tcp.set_write_timeout(Some(wait)).ok()?;
    let config = connector
        .configure()
        .ok()?
        .use_server_name_indication(false)
        .verify_hostname(false);
    let mut stream = match config.connect(bare, tcp) {
        Ok(stream) => stream,
        // TLS 1.2 asks for the certificate inside the handshake, so its alert ends it.
        Err(openssl::ssl::HandshakeError::Failure(mid)) => return Some(mid.error().to_string()),
        Err(_) => return None,
    };
    match stream.ssl_read(&mut [0u8; 1]) {
        Err(e) => Some(e.to_string()).filter(|text| text.contains("SSL routines")),
        Ok(_) => None,
    }
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

    /// A self-signed certificate for 127.0.0.1 and its key.
    fn self_signed() -> (X509, PKey<openssl::pkey::Private>) {
        use openssl::x509::{X509NameBuilder, X509};
        let key = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).expect("rsa")).expect("key");
        let mut name = X509NameBuilder::new().expect("name");
        name.append_entry_by_text("CN", "127.0.0.1").expect("cn");
        let name = name.build();
        let mut cert = X509::builder().expect("builder");
        cert.set_version(2).expect("version");
        cert.set_subject_name(&name).expect("subject");
        cert.set_issuer_name(&name).expect("issuer");
        cert.set_pubkey(&key).expect("pubkey");
        let now = openssl::asn1::Asn1Time::days_from_now(0).expect("now");
        let later = openssl::asn1::Asn1Time::days_from_now(1).expect("later");
        cert.set_not_before(&now).expect("not before");
        cert.set_not_after(&later).expect("not after");
        cert.sign(&key, openssl::hash::MessageDigest::sha256())
            .expect("sign");
        (cert.build(), key)
    }

    /// What [`hear_refusal`] hears from a TLS 1.3 server on loopback that requires a
    /// client certificate when `require` is set, and otherwise takes the handshake and
    /// waits for a request.
    fn heard_from_a_server(require: bool) -> Option<String> {
        use openssl::ssl::{SslAcceptor, SslVersion};
        let (cert, key) = self_signed();
        let mut acceptor =
            SslAcceptor::mozilla_modern_v5(SslMethod::tls_server()).expect("acceptor");
        acceptor.set_certificate(&cert).expect("cert");
        acceptor.set_private_key(&key).expect("key");
        acceptor
            .set_min_proto_version(Some(SslVersion::TLS1_3))
            .expect("tls 1.3");
        if require {
            acceptor.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
        }
        let acceptor = acceptor.build();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = std::thread::spawn(move || {
            let (tcp, _) = listener.accept().expect("accept");
            if let Ok(mut stream) = acceptor.accept(tcp) {
                // Reading is what makes OpenSSL check the client's certificate message.
                let _ = stream.ssl_read(&mut [0u8; 1]);
            }
        });
        let heard = hear_refusal(
            &CassandraTls::default(),
            "127.0.0.1",
            port,
            Duration::from_millis(500),
        );
        server.join().expect("server");
        heard
    }

    #[test]
    fn a_node_that_wants_a_client_certificate_is_heard_saying_so() {
        let heard = heard_from_a_server(true).expect("an alert");
        assert!(heard.contains("alert certificate required"), "{heard}");
    }

    #[test]
    fn a_node_that_takes_the_handshake_says_nothing() {
        assert_eq!(heard_from_a_server(false), None);
    }
}
