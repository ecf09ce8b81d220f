//! The local Apicurio Registry (`local.registry`): a Confluent-compatible schema registry, a
//! Quarkus application from the `apicurio-registry-app` tarball, run on
//! `local.registry_java` (Java 21 or newer) with its H2 storage in a file of its data
//! directory or in memory (`local.registry_storage`), its API and its management interface
//! on 127.0.0.1 only. Owns its command line, the Java check and its
//! probes; fetching it is [`super::artifacts`]'s, starting and stopping [`super::LocalStack`]'s.

use super::security::TlsFiles;
use super::LocalError;
use crate::config::{LocalConfig, RegistryStorage, SchemaRegistryConfig};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// On its command line, so a recycled pid is never taken for the registry (it has no main
/// class of its own there: it runs as `-jar quarkus-run.jar`).
pub const MARKER: &str = "-Dcassflow.server=apicurio-registry";
/// What the unpacked tarball runs; its absence means the tarball did not unpack.
pub const RUN_JAR: &str = "quarkus-run.jar";
/// The oldest Java Apicurio Registry 3 runs on.
const MIN_JAVA: u32 = 21;

/// Returns the command that runs the registry unpacked in `dist`, keeping its temporary
/// files below `dir` (Quarkus's Vert.x would otherwise leave a cache in `/tmp`). With
/// `local.registry_tls` the stack's CA signs its certificate (made once); with
/// `local.registry_auth` its one account, `registry`'s username and password, goes into
/// `dir/config/application.properties` (owner-only; Quarkus reads it from its working
/// directory), never onto the command line where `ps` would show the password.
pub fn prepare(
    local: &LocalConfig,
    registry: &SchemaRegistryConfig,
    dist: &Path,
    dir: &Path,
) -> Result<Command, LocalError> {
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp)
        .map_err(|e| LocalError::io(format!("create {}", tmp.display()), e))?;
    write_account(local, registry, dir)?;
    let tls = TlsFiles::of_stack(local);
    if local.registry_tls {
        tls.ensure(&local.java)?;
    }
    let mut command = Command::new(local.registry_java());
    command
        .current_dir(dir)
        .arg(format!("-Xms{}", local.registry_heap))
        .arg(format!("-Xmx{}", local.registry_heap))
        .args(["-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true"])
        .arg(MARKER)
        .arg(format!("-Djava.io.tmpdir={}", tmp.display()))
        .arg(format!(
            "-Dvertx.cacheDirBase={}",
            tmp.join("vertx").display()
        ))
        .args(flags(local))
        .args(tls_flags(local, &tls))
        .arg("-jar")
        .arg(dist.join(RUN_JAR));
    Ok(command)
}

/// The H2 database of `registry_storage = "file"`, relative to the registry's working
/// directory (its data directory; H2 takes a relative path only in this `./` form).
const DATABASE_FILE: &str = "./data/registry";

/// Where it listens and what it stores in: both listeners on loopback, storage in an H2
/// file of its data directory or in memory (pinned either way, so that a later default of
/// Apicurio's cannot move it).
fn flags(local: &LocalConfig) -> Vec<String> {
    let database = match local.registry_storage {
        RegistryStorage::File => format!("jdbc:h2:file:{DATABASE_FILE}"),
        RegistryStorage::Memory => "jdbc:h2:mem:registry".into(),
    };
    vec![
        "-Dquarkus.http.host=127.0.0.1".into(),
        format!("-Dquarkus.http.port={}", local.registry_port),
        "-Dquarkus.management.enabled=true".into(),
        "-Dquarkus.management.host=127.0.0.1".into(),
        format!(
            "-Dquarkus.management.port={}",
            local.registry_management_port
        ),
        "-Dapicurio.storage.kind=sql".into(),
        "-Dapicurio.storage.sql.kind=h2".into(),
        format!("-Dapicurio.datasource.url={database}"),
    ]
}

/// HTTPS only on the API's port, with the stack's server certificate; the management
/// interface (readiness) stays plain HTTP on loopback.
fn tls_flags(local: &LocalConfig, tls: &TlsFiles) -> Vec<String> {
    if !local.registry_tls {
        return Vec::new();
    }
    vec![
        format!("-Dquarkus.http.ssl-port={}", local.registry_port),
        "-Dquarkus.http.insecure-requests=disabled".into(),
        format!(
            "-Dquarkus.http.ssl.certificate.files={}",
            tls.server_pem().display()
        ),
        format!(
            "-Dquarkus.http.ssl.certificate.key-files={}",
            tls.server_key_pem().display()
        ),
    ]
}

/// Where Quarkus looks for settings beside its working directory.
fn account_file(dir: &Path) -> std::path::PathBuf {
    dir.join("config").join("application.properties")
}

/// Writes the basic-auth account of `local.registry_auth`, or removes the file of an
/// earlier start that had it (else the registry would still ask for a password).
fn write_account(
    local: &LocalConfig,
    registry: &SchemaRegistryConfig,
    dir: &Path,
) -> Result<(), LocalError> {
    let path = account_file(dir);
    if !local.registry_auth {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(LocalError::io(format!("remove {}", path.display()), e))
            }
            _ => Ok(()),
        };
    }
    let (Some(user), Some(password)) = (registry.username.as_deref(), registry.password.as_deref())
    else {
        // Validation refuses this; a registry must never start open when auth was asked for.
        return Err(LocalError::Prepare {
            server: "Apicurio Registry".into(),
            detail: "local.registry_auth is on, but schema_registry.username or .password is unset (fix: set both)".into(),
            log: path,
        });
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| LocalError::io(format!("create {}", parent.display()), e))?;
    }
    super::security::write_private(&path, &account_properties(user, password))
}

/// The properties of one basic-auth account (the user name is plain: validated at load)
/// that may read and register schemas.
fn account_properties(user: &str, password: &str) -> String {
    format!(
        "# Written by cassflow for local.registry_auth: the one account of the local registry.\n\
         quarkus.http.auth.basic=true\n\
         quarkus.security.users.embedded.enabled=true\n\
         quarkus.security.users.embedded.plain-text=true\n\
         quarkus.security.users.embedded.users.{user}={}\n\
         quarkus.security.users.embedded.roles.{user}=sr-admin\n",
        properties_value(password)
    )
}

/// `text` as a value of a properties file read by SmallRye Config: escaped as Java reads
/// properties ([`super::kafka::escape_property`]), with `$` doubled first (SmallRye reads
/// `$$` as `$`), so a `${...}` in a password is not taken for an expression.
fn properties_value(text: &str) -> String {
    super::kafka::escape_property(&text.replace('$', "$$"), false)
}

/// Refuses a Java the registry cannot run on, naming `local.registry_java` and the fix.
pub fn check_java(java: &Path) -> Result<(), LocalError> {
    let missing = || {
        LocalError::ToolMissing {
        tool: format!("Java {MIN_JAVA} or newer (for Apicurio Registry)"),
        key: "local.registry_java".into(),
        install: "install a JDK 21 or newer: Eclipse Temurin, or openjdk-21-jdk-headless from Debian 13 on".into(),
    }
    };
    let out = match Command::new(java).arg("-version").output() {
        Ok(out) if out.status.success() => out,
        _ => return Err(missing()),
    };
    // `java -version` prints to stderr; some builds to stdout.
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    check_version(java, &text)
}

/// The verdict on the `java -version` output of `java`.
fn check_version(java: &Path, version_output: &str) -> Result<(), LocalError> {
    match java_major(version_output) {
        Some(found) if found >= MIN_JAVA => Ok(()),
        found => Err(LocalError::JavaTooOld {
            java: java.display().to_string(),
            found: found.map_or_else(|| "of an unknown version".into(), |v| v.to_string()),
            needs: MIN_JAVA,
            server: "Apicurio Registry".into(),
            key: "local.registry_java".into(),
        }),
    }
}

/// The major version in `java -version`'s first line: `openjdk version "25.0.1"` is 25,
/// `java version "1.8.0_351"` is 8.
fn java_major(version_output: &str) -> Option<u32> {
    let quoted = version_output
        .lines()
        .find(|l| l.contains(" version \""))?
        .split('"')
        .nth(1)?;
    let mut parts = quoted.split(['.', '_', '-', '+']);
    let first: u32 = parts.next()?.parse().ok()?;
    if first == 1 {
        parts.next()?.parse().ok()
    } else {
        Some(first)
    }
}

/// Proof that the registry serves: its management interface's readiness check says UP.
/// Returns the version its API reports (the configured one if that cannot be read).
pub async fn probe_ready(local: &LocalConfig, timeout: Duration) -> Result<String, String> {
    let client = client(local, timeout)?;
    let ready = format!(
        "http://127.0.0.1:{}/health/ready",
        local.registry_management_port
    );
    let response = client
        .get(&ready)
        .send()
        .await
        .map_err(|e| format!("GET {ready}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("GET {ready}: {}", response.status()));
    }
    let info = format!("{}/apis/registry/v3/system/info", origin(local));
    let version = match client.get(&info).send().await {
        Ok(r) if r.status().is_success() => r
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|v| v.get("version")?.as_str().map(str::to_string)),
        _ => None,
    };
    Ok(version.unwrap_or_else(|| local.registry_version.clone()))
}

/// Proof that a Confluent-compatible registry answers on `local.registry_port`, ours or not:
/// what `cassflow up` asks before it starts one. A registry that asks for a login answers.
pub async fn probe_api(local: &LocalConfig, timeout: Duration) -> Result<String, String> {
    let url = format!("{}/apis/ccompat/v7/subjects", origin(local));
    let response = client(local, timeout)?
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {}", crate::error_line::render(&e)))?;
    let status = response.status();
    if !(status.is_success() || status == reqwest::StatusCode::UNAUTHORIZED) {
        return Err(format!("GET {url}: {status}"));
    }
    Ok(local.registry_version.clone())
}

/// `http(s)://127.0.0.1:<registry_port>`.
fn origin(local: &LocalConfig) -> String {
    let scheme = if local.registry_tls { "https" } else { "http" };
    format!("{scheme}://127.0.0.1:{}", local.registry_port)
}

/// A client for loopback: no proxy from the environment stands between it and the
/// registry; with `local.registry_tls` it trusts the stack's CA (when it is made).
fn client(local: &LocalConfig, timeout: Duration) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder().timeout(timeout).no_proxy();
    if local.registry_tls {
        let ca = TlsFiles::of_stack(local).ca_pem();
        if let Ok(pem) = std::fs::read(&ca) {
            let cert = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| format!("{}: {e}", ca.display()))?;
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_versions_are_read_from_their_banner() {
        let temurin = "openjdk version \"25.0.1\" 2025-10-21 LTS\nOpenJDK Runtime Environment Temurin-25.0.1+8 (build 25.0.1+8-LTS)\n";
        assert_eq!(java_major(temurin), Some(25));
        assert_eq!(
            java_major("openjdk version \"17.0.15\" 2025-04-15\n"),
            Some(17)
        );
        assert_eq!(java_major("openjdk version \"21\" 2023-09-19\n"), Some(21));
        assert_eq!(java_major("java version \"1.8.0_351\"\n"), Some(8));
        assert_eq!(
            java_major(
                "Picked up JAVA_TOOL_OPTIONS: -Xss1m\nopenjdk version \"22-ea\" 2024-03-19\n"
            ),
            Some(22)
        );
        assert_eq!(java_major("no banner"), None);
    }

    #[test]
    fn an_old_or_missing_java_names_the_key_and_the_fix() {
        let err = check_java(Path::new("/nonexistent/java")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("local.registry_java"), "{text}");
        assert!(text.contains("fix:"), "{text}");

        let java = Path::new("/usr/bin/java");
        let text = check_version(java, "openjdk version \"17.0.15\" 2025-04-15\n")
            .unwrap_err()
            .to_string();
        assert!(text.contains("Java 17"), "{text}");
        assert!(text.contains("21 or newer"), "{text}");
        assert!(text.contains("local.registry_java"), "{text}");
        assert!(text.contains("/usr/bin/java"), "{text}");
        assert!(check_version(java, "openjdk version \"21.0.2\"\n").is_ok());
    }

    #[test]
    fn the_account_is_a_properties_file_whose_password_is_taken_literally() {
        let text = account_properties("cassflow", "p\\w=${x} :\nend");
        assert!(text.contains("quarkus.http.auth.basic=true\n"), "{text}");
        assert!(
            text.contains("quarkus.security.users.embedded.users.cassflow=p\\\\w=$${x} :\\nend\n"),
            "{text}"
        );
        assert_eq!(properties_value("a$$b"), "a$$$$b");
        assert!(
            text.contains("quarkus.security.users.embedded.roles.cassflow=sr-admin\n"),
            "{text}"
        );
        assert_eq!(properties_value(" lead"), "\\ lead");
    }

    #[test]
    fn tls_serves_https_only_on_the_api_port() {
        let local = LocalConfig {
            registry_port: 28081,
            registry_tls: true,
            ..LocalConfig::default()
        };
        let tls = TlsFiles::new(Path::new("/stack/cassandra"));
        let flags = tls_flags(&local, &tls);
        for flag in [
            "-Dquarkus.http.ssl-port=28081",
            "-Dquarkus.http.insecure-requests=disabled",
            "-Dquarkus.http.ssl.certificate.files=/stack/cassandra/tls/server.pem",
            "-Dquarkus.http.ssl.certificate.key-files=/stack/cassandra/tls/server-key.pem",
        ] {
            assert!(flags.iter().any(|f| f == flag), "{flag} in {flags:?}");
        }
        assert!(tls_flags(&LocalConfig::default(), &tls).is_empty());
        assert_eq!(origin(&local), "https://127.0.0.1:28081");
    }

    #[test]
    fn it_listens_on_loopback_only_and_stores_in_a_file_or_in_memory() {
        let mut local = LocalConfig {
            registry_port: 28081,
            registry_management_port: 29001,
            registry_storage: RegistryStorage::File,
            ..LocalConfig::default()
        };
        for flag in [
            "-Dquarkus.http.host=127.0.0.1",
            "-Dquarkus.http.port=28081",
            "-Dquarkus.management.host=127.0.0.1",
            "-Dquarkus.management.port=29001",
            "-Dapicurio.datasource.url=jdbc:h2:file:./data/registry",
        ] {
            let flags = flags(&local);
            assert!(flags.iter().any(|f| f == flag), "{flag} in {flags:?}");
        }
        local.registry_storage = RegistryStorage::Memory;
        let flags = flags(&local);
        let memory = "-Dapicurio.datasource.url=jdbc:h2:mem:registry";
        assert!(flags.iter().any(|f| f == memory), "{flags:?}");
    }
}
