//! The local Apicurio Registry (`local.registry`): a Confluent-compatible schema registry, a
//! Quarkus application from the `apicurio-registry-app` tarball, run on
//! `local.registry_java` (Java 21 or newer) with its in-memory H2 storage, its API and its
//! management interface on 127.0.0.1 only. Owns its command line, the Java check and its
//! probes; fetching it is [`super::artifacts`]'s, starting and stopping [`super::LocalStack`]'s.

use super::LocalError;
use crate::config::LocalConfig;
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
/// files below `dir` (Quarkus's Vert.x would otherwise leave a cache in `/tmp`).
pub fn prepare(local: &LocalConfig, dist: &Path, dir: &Path) -> Result<Command, LocalError> {
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp)
        .map_err(|e| LocalError::io(format!("create {}", tmp.display()), e))?;
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
        .arg("-jar")
        .arg(dist.join(RUN_JAR));
    Ok(command)
}

/// Where it listens and what it stores in: both listeners on loopback, storage in memory
/// (its default, pinned so that a later default cannot make it write a database here).
fn flags(local: &LocalConfig) -> Vec<String> {
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
        "-Dapicurio.datasource.url=jdbc:h2:mem:registry".into(),
    ]
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
    let client = client(timeout)?;
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
    let info = format!(
        "http://127.0.0.1:{}/apis/registry/v3/system/info",
        local.registry_port
    );
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
/// what `cassflow up` asks before it starts one.
pub async fn probe_api(local: &LocalConfig, timeout: Duration) -> Result<String, String> {
    let url = format!(
        "http://127.0.0.1:{}/apis/ccompat/v7/subjects",
        local.registry_port
    );
    let response = client(timeout)?
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("GET {url}: {}", response.status()));
    }
    Ok(local.registry_version.clone())
}

/// A client for loopback: no proxy from the environment stands between it and the registry.
fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(timeout)
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())
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
    fn it_listens_on_loopback_only_and_stores_in_memory() {
        let local = LocalConfig {
            registry_port: 28081,
            registry_management_port: 29001,
            ..LocalConfig::default()
        };
        let flags = flags(&local);
        for flag in [
            "-Dquarkus.http.host=127.0.0.1",
            "-Dquarkus.http.port=28081",
            "-Dquarkus.management.host=127.0.0.1",
            "-Dquarkus.management.port=29001",
            "-Dapicurio.datasource.url=jdbc:h2:mem:registry",
        ] {
            assert!(flags.iter().any(|f| f == flag), "{flag} in {flags:?}");
        }
    }
}
