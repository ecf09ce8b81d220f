//! One local Apache Kafka broker in KRaft mode on loopback (a combined broker and
//! controller, or a broker only; the quorum is [`super::cluster`]'s): its config, the
//! one-time storage format with the cluster's id, and its command line.

use super::{template, LocalError};
use crate::config::LocalConfig;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Where one broker lives and what it shares with the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerSpec {
    pub node_id: u8,
    pub host: String,
    pub port: u16,
    /// Its controller listener's port, when it is one of the quorum's voters.
    pub controller_port: Option<u16>,
    /// `controller.quorum.voters`.
    pub voters: String,
    /// Default replication of topics (and of Kafka's own offsets and transaction topics).
    pub replication: u8,
    pub min_insync_replicas: u8,
}

impl BrokerSpec {
    fn vars(&self, log_dirs: &Path) -> Vec<(&'static str, String)> {
        let mut listeners = format!("PLAINTEXT://{}:{}", self.host, self.port);
        let roles = match self.controller_port {
            Some(port) => {
                listeners.push_str(&format!(",CONTROLLER://127.0.0.1:{port}"));
                "broker,controller"
            }
            None => "broker",
        };
        vec![
            ("roles", roles.into()),
            ("node_id", self.node_id.to_string()),
            ("voters", self.voters.clone()),
            ("listeners", listeners),
            ("host", self.host.clone()),
            ("port", self.port.to_string()),
            ("log_dirs", log_dirs.display().to_string()),
            ("replication", self.replication.to_string()),
            ("min_isr", self.min_insync_replicas.to_string()),
        ]
    }
}

pub const MAIN_CLASS: &str = "kafka.Kafka";
const STORAGE_TOOL: &str = "kafka.tools.StorageTool";
const SERVER_PROPERTIES: &str = include_str!("../../stack/kafka/server.properties.tmpl");
const LOG4J: &str = include_str!("../../stack/kafka/log4j.properties.tmpl");

/// Writes the broker's config, formats its storage on first use (with the cluster id of
/// broker 1's storage in `first_data`, when that is formatted already), and returns the
/// command that runs it.
pub fn prepare(
    local: &LocalConfig,
    broker: &BrokerSpec,
    lib: &Path,
    dir: &Path,
    first_data: &Path,
    console_log: &Path,
) -> Result<Command, LocalError> {
    let conf = dir.join("conf");
    let data = dir.join("data");
    let logs = dir.join("logs");
    let fail = |detail: String| LocalError::Prepare {
        server: "Apache Kafka".into(),
        detail,
        log: console_log.to_path_buf(),
    };
    let properties = template::render(SERVER_PROPERTIES, &broker.vars(&data)).map_err(fail)?;
    let properties = with_overrides(properties, &local.kafka_properties);
    let log4j =
        template::render(LOG4J, &[("log_dir", logs.display().to_string())]).map_err(fail)?;
    let server_properties = conf.join("server.properties");
    let log4j_properties = conf.join("log4j.properties");
    write(&server_properties, &properties)?;
    write(&log4j_properties, &log4j)?;

    let classpath = format!("{}/*", lib.display());
    if !data.join("meta.properties").exists() {
        let cluster_id = cluster_id_of(first_data).unwrap_or_else(new_cluster_id);
        tracing::info!(%cluster_id, dir = %data.display(), "formatting Kafka storage");
        let output = java(local)
            .args(["-Xmx256m", "-cp", &classpath])
            .arg(format!(
                "-Dlog4j.configuration=file:{}",
                log4j_properties.display()
            ))
            .args([STORAGE_TOOL, "format", "-t", &cluster_id, "-c"])
            .arg(&server_properties)
            .output()
            .map_err(|e| LocalError::io("run the Kafka storage tool", e))?;
        let transcript = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        std::fs::write(console_log, &transcript)
            .map_err(|e| LocalError::io(format!("write {}", console_log.display()), e))?;
        if !output.status.success() {
            let last = transcript.lines().last().unwrap_or("no output").to_string();
            return Err(fail(format!("formatting storage failed: {last}")));
        }
    }

    let mut command = java(local);
    command
        .arg(format!("-Xms{}", local.kafka_heap))
        .arg(format!("-Xmx{}", local.kafka_heap))
        .args([
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
        ])
        .arg(format!("-Dkafka.logs.dir={}", logs.display()))
        .arg(format!(
            "-Dlog4j.configuration=file:{}",
            log4j_properties.display()
        ))
        .args(["-cp", &classpath, MAIN_CLASS])
        .arg(&server_properties);
    Ok(command)
}

/// `local.kafka_properties` appended after the generated properties: Java's `Properties`
/// keeps the last value of a repeated key, so the user's value wins.
fn with_overrides(mut properties: String, extra: &BTreeMap<String, String>) -> String {
    if extra.is_empty() {
        return properties;
    }
    if !properties.ends_with('\n') {
        properties.push('\n');
    }
    properties.push_str("# from local.kafka_properties\n");
    for (key, value) in extra {
        properties.push_str(&escape_property(key, true));
        properties.push('=');
        properties.push_str(&escape_property(value, false));
        properties.push('\n');
    }
    properties
}

/// Escapes text for a Java `.properties` file, which is read as ISO-8859-1: separators in
/// keys, a leading space, line breaks and backslashes, and non-ASCII as `\uXXXX`.
pub(super) fn escape_property(text: &str, is_key: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.chars().enumerate() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ' ' if is_key || i == 0 => out.push_str("\\ "),
            '=' | ':' | '#' | '!' if is_key => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            other => {
                let mut units = [0u16; 2];
                for unit in other.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out
}

fn java(local: &LocalConfig) -> Command {
    Command::new(&local.java)
}

fn write(path: &Path, text: &str) -> Result<(), LocalError> {
    std::fs::write(path, text).map_err(|e| LocalError::io(format!("write {}", path.display()), e))
}

/// The `cluster.id` of a formatted storage directory (its `meta.properties`).
fn cluster_id_of(data: &Path) -> Option<String> {
    let meta = std::fs::read_to_string(data.join("meta.properties")).ok()?;
    meta.lines()
        .find_map(|l| l.trim().strip_prefix("cluster.id="))
        .map(|id| id.trim().to_string())
        .filter(|id| !id.is_empty())
}

/// A KRaft cluster id: 16 random bytes, base64url without padding (as `kafka-storage
/// random-uuid` prints). Like Kafka's own `Uuid.randomUuid`, it never starts with `-`:
/// the storage tool's argument parser would read such an id as an option (one id in 64).
fn new_cluster_id() -> String {
    use base64::Engine;
    loop {
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(uuid::Uuid::new_v4().as_bytes());
        if !id.starts_with('-') {
            return id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_id_has_kafka_shape() {
        // 4096 draws: an id starting with '-' (one in 64 before the fix) shows up
        // in all but about 1 run in 10^28.
        for _ in 0..4096 {
            let id = new_cluster_id();
            assert_eq!(id.len(), 22);
            assert!(id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
            assert!(!id.starts_with('-'), "{id} reads as an option");
        }
    }

    #[test]
    fn extra_properties_are_appended_escaped() {
        let extra = BTreeMap::from([
            (
                "listeners".to_string(),
                "SASL_PLAINTEXT://127.0.0.1:1".to_string(),
            ),
            (
                "jaas".to_string(),
                "Module required user_a=\"s\\ecret\";\nnext".to_string(),
            ),
            ("odd key=".to_string(), " é".to_string()),
        ]);
        let out = with_overrides("a=1".into(), &extra);
        assert!(
            out.starts_with("a=1\n# from local.kafka_properties\n"),
            "{out}"
        );
        assert!(
            out.contains("\nlisteners=SASL_PLAINTEXT://127.0.0.1:1\n"),
            "{out}"
        );
        assert!(
            out.contains("\njaas=Module required user_a=\"s\\\\ecret\";\\nnext\n"),
            "{out}"
        );
        assert!(out.contains("\nodd\\ key\\==\\ \\u00e9\n"), "{out}");
        assert_eq!(with_overrides("a=1\n".into(), &BTreeMap::new()), "a=1\n");
    }

    fn broker(node_id: u8, of: u8) -> BrokerSpec {
        use super::super::cluster;
        BrokerSpec {
            node_id,
            host: "127.0.0.1".into(),
            port: 19091 + u16::from(node_id),
            controller_port: cluster::kafka_controller_port(of, node_id, 19093),
            voters: cluster::kafka_voters(of, 19093),
            replication: cluster::default_replication(of),
            min_insync_replicas: cluster::min_insync_replicas(of),
        }
    }

    fn render(spec: &BrokerSpec) -> String {
        template::render(SERVER_PROPERTIES, &spec.vars(Path::new("/d")))
            .expect("server.properties renders")
    }

    #[test]
    fn templates_render_completely() {
        let out = render(&broker(1, 1));
        assert!(out.contains("process.roles=broker,controller\n"), "{out}");
        assert!(out.contains("node.id=1\n"), "{out}");
        assert!(out.contains("controller.quorum.voters=1@127.0.0.1:19093\n"));
        assert!(
            out.contains("listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093\n"),
            "{out}"
        );
        assert!(
            out.contains("offsets.topic.replication.factor=1\n"),
            "{out}"
        );
        assert!(out.contains("min.insync.replicas=1\n"), "{out}");
        assert!(template::render(LOG4J, &[("log_dir", "/l".into())]).is_ok());
    }

    #[test]
    fn brokers_of_a_cluster_share_the_quorum_and_replicate_by_three() {
        let voters =
            "controller.quorum.voters=1@127.0.0.1:19093,2@127.0.0.1:19094,3@127.0.0.1:19095\n";
        for id in 1..=3 {
            let out = render(&broker(id, 3));
            assert!(out.contains(voters), "{out}");
            assert!(out.contains(&format!("node.id={id}\n")), "{out}");
            assert!(out.contains("process.roles=broker,controller\n"), "{out}");
            assert!(
                out.contains(&format!(
                    "advertised.listeners=PLAINTEXT://127.0.0.1:{}\n",
                    19091 + u16::from(id)
                )),
                "{out}"
            );
            assert!(out.contains("default.replication.factor=3\n"), "{out}");
            assert!(
                out.contains("offsets.topic.replication.factor=3\n"),
                "{out}"
            );
            assert!(out.contains("min.insync.replicas=2\n"), "{out}");
            assert!(out.contains("transaction.state.log.min.isr=2\n"), "{out}");
        }
        let fifth = render(&broker(5, 5));
        assert!(fifth.contains("process.roles=broker\n"), "{fifth}");
        assert!(
            fifth.contains("listeners=PLAINTEXT://127.0.0.1:19096\n"),
            "{fifth}"
        );
        assert!(fifth.contains(voters), "{fifth}");
    }

    #[test]
    fn later_brokers_take_the_first_brokers_cluster_id() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(cluster_id_of(dir.path()), None);
        std::fs::write(
            dir.path().join("meta.properties"),
            "#\nnode.id=1\nversion=1\ncluster.id=AbCdEfGhIjKlMnOpQrStUv\n",
        )
        .expect("write");
        assert_eq!(
            cluster_id_of(dir.path()).as_deref(),
            Some("AbCdEfGhIjKlMnOpQrStUv")
        );
    }
}
