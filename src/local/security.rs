//! The local Cassandra's security, each part switched on in `[local]`: passwords
//! (`cassandra_auth`: PasswordAuthenticator and CassandraAuthorizer, and the configured role,
//! created by logging in as the default superuser) and client-to-node TLS (`cassandra_tls`:
//! a CA, a node keystore, a truststore and a client certificate made once with the JDK's
//! `keytool`, the CA and the client certificate also as PEM for clients; `cassandra_client_auth`
//! makes the node require a client certificate). Owns the `cassandra.yaml` fragment, the key material and the role;
//! starting and stopping the node stays in [`super`] and [`super::cassandra`].

use super::LocalError;
use crate::cassandra::schema::quote;
use crate::cassandra::{self, CassandraError};
use crate::config::{CassandraConfig, CassandraTls, LocalConfig};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The superuser PasswordAuthenticator creates on a node's first start.
const SUPERUSER: (&str, &str) = ("cassandra", "cassandra");

/// Addresses the node certificate is valid for: the loopback addresses of a local cluster
/// of up to three nodes, and `localhost`.
const NODE_SAN: &str = "ip:127.0.0.1,ip:127.0.0.2,ip:127.0.0.3,dns:localhost";

/// The key material of the local Cassandra's TLS, under `<data_dir>/cassandra/tls/`.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    dir: PathBuf,
}

impl TlsFiles {
    pub fn new(cassandra_dir: &Path) -> Self {
        TlsFiles {
            dir: cassandra_dir.join("tls"),
        }
    }

    /// The stack's: one CA and keystore for every node, in node 1's directory (the node
    /// certificate names every node's address).
    pub fn of_stack(local: &LocalConfig) -> Self {
        Self::new(&local.data_dir.join(super::Server::Cassandra.id()))
    }

    /// The CA certificate as PEM: what clients trust (`cassandra.tls.ca`).
    pub fn ca_pem(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    fn ca_store(&self) -> PathBuf {
        self.dir.join("ca.p12")
    }
    fn keystore(&self) -> PathBuf {
        self.dir.join("node.p12")
    }
    fn truststore(&self) -> PathBuf {
        self.dir.join("truststore.p12")
    }
    fn password_file(&self) -> PathBuf {
        self.dir.join("store-password")
    }
    fn client_store(&self) -> PathBuf {
        self.dir.join("client.p12")
    }
    /// A client certificate the CA signed (CN=cassflow), as PEM with the CA after it:
    /// `cassandra.tls.cert` for a node that requires client certificates.
    pub fn client_pem(&self) -> PathBuf {
        self.dir.join("client.pem")
    }
    /// The unencrypted PKCS#8 key of [`Self::client_pem`]: `cassandra.tls.key`.
    pub fn client_key_pem(&self) -> PathBuf {
        self.dir.join("client-key.pem")
    }
    /// The node certificate (valid for [`NODE_SAN`]) as PEM with the CA after it: what the
    /// local registry serves HTTPS with (`local.registry_tls`).
    pub fn server_pem(&self) -> PathBuf {
        self.dir.join("server.pem")
    }
    /// The unencrypted PKCS#8 key of [`Self::server_pem`].
    pub fn server_key_pem(&self) -> PathBuf {
        self.dir.join("server-key.pem")
    }

    /// Makes the CA, the node keystore (its key and a certificate the CA signed for
    /// [`NODE_SAN`]), the truststore and a client certificate with its key, each key pair
    /// also as PEM, unless a previous start made them all.
    pub fn ensure(&self, java: &Path) -> Result<(), LocalError> {
        let all = [
            self.ca_pem(),
            self.keystore(),
            self.truststore(),
            self.client_pem(),
            self.client_key_pem(),
            self.password_file(),
        ];
        if all.iter().all(|f| f.is_file()) {
            // Made before the node's PEM files were: add them, keeping the CA clients trust.
            if !(self.server_pem().is_file() && self.server_key_pem().is_file()) {
                self.export_server_pem(&self.password()?)?;
            }
            return Ok(());
        }
        // Half made (an interrupted start): start over, so every file matches the CA.
        let _ = std::fs::remove_dir_all(&self.dir);
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| LocalError::io(format!("create {}", self.dir.display()), e))?;
        let password = format!("{:032x}", rand::random::<u128>());
        write_private(&self.password_file(), &password)?;
        let keytool = keytool(java);
        let run = |args: &[&str]| run_keytool(&keytool, &self.dir, args);
        let (ca, node, trust, client) = (
            path_text(&self.ca_store()),
            path_text(&self.keystore()),
            path_text(&self.truststore()),
            path_text(&self.client_store()),
        );
        let ca_pem = path_text(&self.ca_pem());
        let pass = password.as_str();
        let store = |path: &str| -> Vec<String> {
            [
                "-storetype",
                "PKCS12",
                "-keystore",
                path,
                "-storepass",
                pass,
            ]
            .map(String::from)
            .to_vec()
        };
        let with = |args: &[&str], store_args: Vec<String>| -> Vec<String> {
            args.iter()
                .map(|a| a.to_string())
                .chain(store_args)
                .collect()
        };
        // An RSA key pair valid for ten years, with its own certificate.
        let keypair = |alias: &str, dname: &str, ext: &[&str]| -> Vec<String> {
            let mut args = [
                "-genkeypair",
                "-alias",
                alias,
                "-keyalg",
                "RSA",
                "-keysize",
                "2048",
                "-validity",
                "3650",
                "-dname",
                dname,
            ]
            .map(String::from)
            .to_vec();
            args.extend(ext.iter().map(|a| a.to_string()));
            args.extend(["-keypass".to_string(), pass.to_string()]);
            args
        };
        // A key pair in `keystore`, its certificate signed by the CA for `usage` (with
        // `san` when given), stored after the CA's so the keystore holds the whole chain.
        let signed = |alias: &str, dname: &str, keystore: &str, usage: &str, san: Option<&str>| {
            let (csr, pem) = (
                path_text(&self.dir.join(format!("{alias}.csr"))),
                path_text(&self.dir.join(format!("{alias}.signed.pem"))),
            );
            let mut gencert = vec![
                "-gencert".to_string(),
                "-alias".into(),
                "ca".into(),
                "-infile".into(),
                csr.clone(),
                "-outfile".into(),
                pem.clone(),
                "-rfc".into(),
                "-validity".into(),
                "3650".into(),
                "-ext".into(),
                "ku:c=digitalSignature,keyEncipherment".into(),
                "-ext".into(),
                format!("eku={usage}"),
            ];
            if let Some(san) = san {
                gencert.extend(["-ext".to_string(), format!("san={san}")]);
            }
            let gencert: Vec<&str> = gencert.iter().map(String::as_str).collect();
            vec![
                [keypair(alias, dname, &[]), store(keystore)].concat(),
                with(
                    &["-certreq", "-alias", alias, "-file", &csr],
                    store(keystore),
                ),
                with(&gencert, store(&ca)),
                with(
                    &["-importcert", "-noprompt", "-alias", "ca", "-file", &ca_pem],
                    store(keystore),
                ),
                with(
                    &["-importcert", "-alias", alias, "-file", &pem],
                    store(keystore),
                ),
            ]
        };
        let steps = [
            vec![
                [
                    keypair("ca", "CN=cassflow local CA", &["-ext", "bc:c"]),
                    store(&ca),
                ]
                .concat(),
                with(
                    &["-exportcert", "-rfc", "-alias", "ca", "-file", &ca_pem],
                    store(&ca),
                ),
            ],
            signed("node", "CN=localhost", &node, "serverAuth", Some(NODE_SAN)),
            vec![with(
                &["-importcert", "-noprompt", "-alias", "ca", "-file", &ca_pem],
                store(&trust),
            )],
            signed("client", "CN=cassflow", &client, "clientAuth", None),
        ];
        for args in steps.concat() {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run(&args)?;
        }
        self.export_pem(
            &self.client_store(),
            &password,
            &self.client_pem(),
            &self.client_key_pem(),
        )?;
        self.export_server_pem(&password)?;
        tracing::info!(dir = %self.dir.display(), "made the local stack's CA, keystore, truststore and client certificate");
        Ok(())
    }

    /// The node keystore's certificate chain and key as PEM, for the registry's HTTPS.
    fn export_server_pem(&self, password: &str) -> Result<(), LocalError> {
        self.export_pem(
            &self.keystore(),
            password,
            &self.server_pem(),
            &self.server_key_pem(),
        )
    }

    /// Writes a keystore's certificate chain and key as PEM (`cert_out`, `key_out`), the form
    /// `cassandra.tls.cert` and `.key` and the registry's HTTPS take (keytool cannot export a
    /// private key).
    fn export_pem(
        &self,
        path: &Path,
        password: &str,
        cert_out: &Path,
        key_out: &Path,
    ) -> Result<(), LocalError> {
        let fail = |detail: String| LocalError::Prepare {
            server: "the local stack's CA (keytool)".into(),
            detail,
            log: self.dir.clone(),
        };
        let der = std::fs::read(path)
            .map_err(|e| LocalError::io(format!("read {}", path.display()), e))?;
        let parsed = openssl::pkcs12::Pkcs12::from_der(&der)
            .and_then(|p12| p12.parse2(password))
            .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
        let (Some(key), Some(cert)) = (parsed.pkey, parsed.cert) else {
            return Err(fail(format!(
                "{} holds no key and certificate",
                path.display()
            )));
        };
        // The CA is in the file twice (in the key's chain and as the trusted entry `ca`).
        let mut chain = cert.to_pem().map_err(|e| fail(e.to_string()))?;
        let mut seen = Vec::new();
        for ca in parsed.ca.into_iter().flatten() {
            let der = ca.to_der().map_err(|e| fail(e.to_string()))?;
            if !seen.contains(&der) {
                chain.extend(ca.to_pem().map_err(|e| fail(e.to_string()))?);
                seen.push(der);
            }
        }
        let private = key
            .private_key_to_pem_pkcs8()
            .map_err(|e| fail(e.to_string()))?;
        let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
        write_private(key_out, &text(private))?;
        write_private(cert_out, &text(chain))
    }

    fn password(&self) -> Result<String, LocalError> {
        let path = self.password_file();
        std::fs::read_to_string(&path)
            .map(|p| p.trim().to_string())
            .map_err(|e| LocalError::io(format!("read {}", path.display()), e))
    }
}

/// The `cassandra.yaml` lines that switch auth and TLS on (empty when both are off).
pub fn yaml_fragment(local: &LocalConfig, files: &TlsFiles) -> Result<String, LocalError> {
    let mut yaml = String::new();
    if local.cassandra_auth {
        yaml.push_str(
            "authenticator: PasswordAuthenticator\n\
             authorizer: CassandraAuthorizer\n\
             role_manager: CassandraRoleManager\n",
        );
    }
    if local.cassandra_tls {
        let password = files.password()?;
        yaml.push_str(&format!(
            "client_encryption_options:\n  \
               enabled: true\n  \
               optional: false\n  \
               keystore: {}\n  \
               keystore_password: {password}\n  \
               truststore: {}\n  \
               truststore_password: {password}\n  \
               store_type: PKCS12\n  \
               require_client_auth: {}\n",
            files.keystore().display(),
            files.truststore().display(),
            local.cassandra_client_auth,
        ));
    }
    Ok(yaml)
}

/// JVM flags auth needs: the default superuser is created at once, not after 10 s.
pub fn jvm_flags(local: &LocalConfig) -> Vec<String> {
    match local.cassandra_auth {
        true => vec!["-Dcassandra.superuser_setup_delay_ms=0".into()],
        false => Vec::new(),
    }
}

/// How the stack's own checks reach its Cassandra: as configured, trusting the stack's CA
/// when TLS is on and `cassandra.tls` is unset, and presenting the stack's client
/// certificate when the node requires one and `cassandra.tls.cert` is unset.
pub fn client_config(
    cassandra: &CassandraConfig,
    local: &LocalConfig,
    files: &TlsFiles,
) -> CassandraConfig {
    let mut cfg = cassandra.clone();
    if local.cassandra_tls && cfg.tls.is_none() {
        cfg.tls = Some(CassandraTls {
            ca: Some(files.ca_pem()),
            ..CassandraTls::default()
        });
    }
    if let Some(tls) = cfg.tls.as_mut().filter(|t| t.cert.is_none()) {
        if local.cassandra_client_auth {
            tls.cert = Some(files.client_pem());
            tls.key = Some(files.client_key_pem());
        }
    }
    cfg
}

/// Proof that the local Cassandra serves clients, as the configured role: with auth on, a
/// login the node rejects is answered by creating the role as the default superuser (the
/// first start), then trying again.
pub async fn probe(
    cfg: &CassandraConfig,
    local: &LocalConfig,
    timeout: Duration,
) -> Result<String, CassandraError> {
    as_the_role(cfg, local, timeout, || cassandra::probe(cfg, timeout)).await
}

/// [`probe`] of one node alone (see [`cassandra::probe_node`]).
pub async fn probe_node(
    cfg: &CassandraConfig,
    local: &LocalConfig,
    address: std::net::SocketAddr,
    timeout: Duration,
) -> Result<String, CassandraError> {
    as_the_role(cfg, local, timeout, || {
        cassandra::probe_node(cfg, address, timeout)
    })
    .await
}

/// Runs `check`; when auth is on and the node rejects the configured login, creates the
/// role and runs it once more.
async fn as_the_role<F, Fut>(
    cfg: &CassandraConfig,
    local: &LocalConfig,
    timeout: Duration,
    check: F,
) -> Result<String, CassandraError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<String, CassandraError>>,
{
    match check().await {
        Err(CassandraError::LoginRejected { .. }) if local.cassandra_auth => {
            tokio::time::timeout(timeout, create_role(cfg))
                .await
                .map_err(|_| CassandraError::Timeout(timeout))??;
            check().await
        }
        other => other,
    }
}

/// Logs in as the default superuser and creates the configured role, with what cassflow
/// needs on the local stack: CREATE on all keyspaces (for the keyspaces and tables it
/// creates), MODIFY and SELECT on all (for tables that existed before).
///
/// The role may log in only once every grant is made: a setup cut short (a timeout on a
/// loaded machine) leaves the login rejected, so the next probe runs all of it again (each
/// statement is idempotent), never a role that logs in without its permissions.
async fn create_role(cfg: &CassandraConfig) -> Result<(), CassandraError> {
    let (Some(user), Some(password)) = (&cfg.username, &cfg.password) else {
        return Ok(());
    };
    if user == SUPERUSER.0 {
        return Ok(());
    }
    let admin = CassandraConfig {
        username: Some(SUPERUSER.0.into()),
        password: Some(SUPERUSER.1.into()),
        ..cfg.clone()
    };
    let session = cassandra::connect(&admin).await?;
    let role = quote(user);
    let statements = [
        format!("CREATE ROLE IF NOT EXISTS {role} WITH LOGIN = false"),
        format!("GRANT CREATE ON ALL KEYSPACES TO {role}"),
        format!("GRANT MODIFY ON ALL KEYSPACES TO {role}"),
        format!("GRANT SELECT ON ALL KEYSPACES TO {role}"),
        format!(
            "ALTER ROLE {role} WITH PASSWORD = '{}' AND LOGIN = true",
            password.replace('\'', "''")
        ),
    ];
    for cql in statements {
        session
            .query_unpaged(cql.as_str(), &[])
            .await
            .map_err(|source| CassandraError::Execute {
                what: format!("creating role {user} as the default superuser"),
                source,
            })?;
    }
    tracing::info!(role = %user, "created the configured Cassandra role");
    Ok(())
}

/// `keytool` beside `local.java` when that is a path, else from `PATH`.
fn keytool(java: &Path) -> PathBuf {
    match java.parent() {
        Some(bin) if !bin.as_os_str().is_empty() => bin.join("keytool"),
        _ => PathBuf::from("keytool"),
    }
}

fn run_keytool(keytool: &Path, dir: &Path, args: &[&str]) -> Result<(), LocalError> {
    let fail = |detail: String| LocalError::Prepare {
        server: "the local stack's CA (keytool)".into(),
        detail,
        log: dir.to_path_buf(),
    };
    let out = Command::new(keytool).args(args).output().map_err(|e| {
        fail(format!(
            "cannot run {} ({e}; fix: install a JDK, or set local.java to the JDK's bin/java)",
            keytool.display()
        ))
    })?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        let verb = args.first().copied().unwrap_or_default();
        return Err(fail(format!("keytool {verb} failed: {}", said.trim())));
    }
    Ok(())
}

pub(super) fn write_private(path: &Path, text: &str) -> Result<(), LocalError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| LocalError::io(format!("write {}", path.display()), e))
}

fn path_text(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_off_adds_nothing() {
        let files = TlsFiles::new(Path::new("/nonexistent"));
        let local = LocalConfig::default();
        assert_eq!(yaml_fragment(&local, &files).ok().as_deref(), Some(""));
        assert!(jvm_flags(&local).is_empty());
    }

    #[test]
    fn keytool_makes_a_ca_the_driver_trusts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = TlsFiles::new(dir.path());
        files.ensure(Path::new("java")).expect("keytool runs");
        let local = LocalConfig {
            cassandra_auth: true,
            cassandra_tls: true,
            ..LocalConfig::default()
        };
        let yaml = yaml_fragment(&local, &files).expect("fragment");
        assert!(
            yaml.contains("authenticator: PasswordAuthenticator"),
            "{yaml}"
        );
        assert!(
            yaml.contains(&files.keystore().display().to_string()),
            "{yaml}"
        );
        assert!(yaml.contains("require_client_auth: false"), "{yaml}");
        let tls = CassandraTls {
            ca: Some(files.ca_pem()),
            ..CassandraTls::default()
        };
        assert!(crate::cassandra::tls::context(&tls).is_ok());
        // The client certificate and its key load together (the key matches the cert).
        let client = client_config(
            &CassandraConfig {
                tls: Some(tls),
                ..CassandraConfig::default()
            },
            &LocalConfig {
                cassandra_client_auth: true,
                ..local.clone()
            },
            &files,
        );
        let with_cert = client.tls.expect("tls");
        assert_eq!(with_cert.cert, Some(files.client_pem()));
        if let Err(e) = crate::cassandra::tls::context(&with_cert) {
            panic!("client certificate: {e}");
        }
        let chain = std::fs::read_to_string(files.client_pem()).expect("client.pem");
        assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 2, "{chain}");
        // A second start keeps the material (clients keep trusting the same CA).
        let before = std::fs::read(files.ca_pem()).expect("ca");
        files.ensure(Path::new("java")).expect("second run");
        assert_eq!(std::fs::read(files.ca_pem()).expect("ca"), before);
    }
}
