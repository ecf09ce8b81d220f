//! The local Apache Kafka broker in KRaft mode (one combined broker and controller on
//! loopback): its config, the one-time storage format, and its command line.

use super::{template, LocalError, Ports};
use crate::config::LocalConfig;
use std::collections::BTreeMap;
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
    let properties = with_overrides(properties, &local.kafka_properties);
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
fn escape_property(text: &str, is_key: bool) -> String {
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
