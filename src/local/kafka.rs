//! The local Apache Kafka broker in KRaft mode (one combined broker and controller on
//! loopback): its config, the one-time storage format, and its command line.

use super::{template, LocalError, Ports};
use crate::config::LocalConfig;
use std::path::Path;
use std::process::Command;

pub const MAIN_CLASS: &str = "kafka.Kafka";
const STORAGE_TOOL: &str = "kafka.tools.StorageTool";
const SERVER_PROPERTIES: &str = include_str!("../../stack/kafka/server.properties.tmpl");
const LOG4J: &str = include_str!("../../stack/kafka/log4j.properties.tmpl");

/// Writes the broker's config, formats its storage on first use, and returns the command
/// that runs it.
pub fn prepare(
    local: &LocalConfig,
    ports: &Ports,
    lib: &Path,
    dir: &Path,
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
    let properties = template::render(
        SERVER_PROPERTIES,
        &[
            ("port", ports.kafka.to_string()),
            ("controller_port", ports.kafka_controller.to_string()),
            ("log_dirs", data.display().to_string()),
        ],
    )
    .map_err(fail)?;
    let log4j =
        template::render(LOG4J, &[("log_dir", logs.display().to_string())]).map_err(fail)?;
    let server_properties = conf.join("server.properties");
    let log4j_properties = conf.join("log4j.properties");
    write(&server_properties, &properties)?;
    write(&log4j_properties, &log4j)?;

    let classpath = format!("{}/*", lib.display());
    if !data.join("meta.properties").exists() {
        let cluster_id = new_cluster_id();
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

fn java(local: &LocalConfig) -> Command {
    Command::new(&local.java)
}

fn write(path: &Path, text: &str) -> Result<(), LocalError> {
    std::fs::write(path, text).map_err(|e| LocalError::io(format!("write {}", path.display()), e))
}

/// A KRaft cluster id: 16 random bytes, base64url without padding (as `kafka-storage
/// random-uuid` prints).
fn new_cluster_id() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_id_has_kafka_shape() {
        let id = new_cluster_id();
        assert_eq!(id.len(), 22);
        assert!(id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }

    #[test]
    fn templates_render_completely() {
        let ports = Ports {
            kafka: 1,
            kafka_controller: 2,
            cassandra: 3,
            cassandra_storage: 4,
        };
        let out = template::render(
            SERVER_PROPERTIES,
            &[
                ("port", ports.kafka.to_string()),
                ("controller_port", ports.kafka_controller.to_string()),
                ("log_dirs", "/d".into()),
            ],
        )
        .expect("server.properties renders");
        assert!(out.contains("127.0.0.1:1"), "{out}");
        assert!(template::render(LOG4J, &[("log_dir", "/l".into())]).is_ok());
    }
}
