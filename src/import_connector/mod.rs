//! `cassflow import-connector FILE`: a DataStax Apache Kafka Connector sink configuration
//! (`.properties`, or Connect's JSON) turned into the equivalent `cassflow.toml`, one
//! `[[pipelines]]` entry per `topic.<topic>.<keyspace>.<table>` mapping. Every setting is
//! either translated, or accepted with a comment saying why nothing is needed, or refused
//! with its name and the reason: nothing is dropped silently. Reading the file's syntax is
//! [`settings`]; this module owns the meaning of the connector's settings. It talks to no
//! server.

pub mod settings;
mod table;

use settings::Settings;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use table::{pipeline, quoted};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    #[error("cannot read {path}: {source} (fix: pass the connector's .properties or JSON file)")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the connector configuration is {problem} (fix: pass a .properties file or Connect's JSON, {{\"name\": ..., \"config\": {{...}}}})")]
    Format { problem: String },
    #[error("cannot import setting `{setting}`: {why}")]
    Unsupported { setting: String, why: String },
    #[error("setting `{setting}` is missing: {why}")]
    Missing { setting: String, why: String },
}

fn unsupported(setting: &str, why: impl Into<String>) -> ImportError {
    ImportError::Unsupported {
        setting: setting.into(),
        why: why.into(),
    }
}

/// Reads `path` and converts it (see [`convert`]).
pub fn import_file(path: &std::path::Path) -> Result<String, ImportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ImportError::Read {
        path: path.display().to_string(),
        source,
    })?;
    convert(&settings::parse(&text)?, &path.display().to_string())
}

/// Connector classes whose settings this importer knows.
const SINK_CLASSES: &[&str] = &[
    "com.datastax.oss.kafka.sink.CassandraSinkConnector",
    "com.datastax.kafkaconnector.DseSinkConnector",
    "CassandraSinkConnector",
    "DseSinkConnector",
];

/// Settings that tune the connector or Kafka Connect itself and have nothing to carry
/// over: cassflow sizes its own pools, batches and retries.
const TUNING: &[(&str, &str)] = &[
    (
        "tasks.max",
        "run several `cassflow stream` instances (same group) to scale out",
    ),
    (
        "maxConcurrentRequests",
        "cassflow bounds writes in flight with stream.max_in_flight",
    ),
    (
        "maxNumberOfRecordsInBatch",
        "cassflow batches rows itself: stream.batch_max_rows (8), and stream.batch_grouping = \"partition\" for this connector's grouping by partition key",
    ),
    (
        "connectionPoolLocalSize",
        "the driver's pool is sized by cassflow",
    ),
    (
        "queryExecutionTimeout",
        "cassflow retries a failed write with backoff (stream.retry_*)",
    ),
    ("jmx", "cassflow serves Prometheus metrics on /metrics"),
    (
        "metricsHighestLatency",
        "cassflow serves Prometheus metrics on /metrics",
    ),
    (
        "compression",
        "the CQL connection's compression is the driver's choice",
    ),
    (
        "ignoreErrors",
        "cassflow never stops on a bad record: it goes to the dead-letter topic",
    ),
    (
        "errors.tolerance",
        "cassflow never stops on a bad record: it goes to the dead-letter topic",
    ),
    ("errors.log.enable", "cassflow logs every dead letter"),
    (
        "errors.log.include.messages",
        "dead letters keep the message and its reason",
    ),
    (
        "errors.deadletterqueue.context.headers.enable",
        "dead letters always carry reason headers",
    ),
    (
        "errors.deadletterqueue.topic.replication.factor",
        "set pipelines[].topic_replication",
    ),
    (
        "errors.retry.timeout",
        "cassflow retries writes itself (stream.max_record_retries)",
    ),
    (
        "errors.retry.delay.max.ms",
        "cassflow retries writes itself (stream.retry_max_backoff)",
    ),
    (
        "key.converter.schemas.enable",
        "cassflow reads JSON keys as they are",
    ),
    (
        "value.converter.schemas.enable",
        "cassflow reads JSON values as they are",
    ),
    (
        "auth.gssapi.service",
        "only used with auth.provider = GSSAPI",
    ),
    ("ssl.hostnameValidation", "only used with an SSL provider"),
];

/// Settings that only mean something when set to a non-empty value.
fn is_blank(value: &str) -> bool {
    value.trim().is_empty()
}

/// One `topic.<t>.<ks>.<tbl>` mapping being built.
#[derive(Debug, Default)]
struct Table {
    topic: String,
    keyspace: String,
    table: String,
    settings: BTreeMap<String, String>,
}

/// Converts the connector's settings into cassflow.toml text; `origin` names the file in
/// the header comment.
pub fn convert(s: &Settings, origin: &str) -> Result<String, ImportError> {
    if let Some(class) = s.get("connector.class") {
        if !SINK_CLASSES.contains(&class.trim()) {
            return Err(unsupported(
                "connector.class",
                format!("`{class}` is not the DataStax Kafka Connector sink (com.datastax.oss.kafka.sink.CassandraSinkConnector)"),
            ));
        }
    }
    if s.get("topics.regex").is_some_and(|v| !is_blank(v)) {
        return Err(unsupported(
            "topics.regex",
            "cassflow pipelines name their topic; list the topics in `topics` instead",
        ));
    }
    let topics: Vec<String> = s
        .get("topics")
        .map(|t| {
            t.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if topics.is_empty() {
        return Err(ImportError::Missing {
            setting: "topics".into(),
            why: "the sink reads no topic (fix: list them, e.g. `topics=orders`)".into(),
        });
    }
    let mut notes: Vec<String> = Vec::new();
    let mut cassandra: Vec<(String, String)> = Vec::new();
    let mut kafka: Vec<(String, String)> = Vec::new();
    let mut tables: BTreeMap<(String, String, String), Table> = BTreeMap::new();
    let mut codecs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut dead_letter_topic = None;

    for (key, value) in s {
        let key = key.as_str();
        if let Some(rest) = key.strip_prefix("topic.") {
            // The longest listed topic that prefixes the rest (topic names may hold dots).
            let topic = topics
                .iter()
                .filter(|t| rest.starts_with(&format!("{t}.")))
                .max_by_key(|t| t.len())
                .ok_or_else(|| {
                    unsupported(key, "it names a topic that is not listed in `topics`")
                })?;
            let tail = &rest[topic.len() + 1..];
            if let Some(codec) = tail.strip_prefix("codec.") {
                codecs
                    .entry(topic.clone())
                    .or_default()
                    .insert(codec.to_string(), value.clone());
                continue;
            }
            let parts: Vec<&str> = tail.splitn(3, '.').collect();
            let [ks, tbl, setting] = parts[..] else {
                return Err(unsupported(
                    key,
                    "expected topic.<topic>.<keyspace>.<table>.<setting>",
                ));
            };
            let entry = tables
                .entry((topic.clone(), ks.to_string(), tbl.to_string()))
                .or_insert_with(|| Table {
                    topic: topic.clone(),
                    keyspace: ks.to_string(),
                    table: tbl.to_string(),
                    ..Table::default()
                });
            entry.settings.insert(setting.to_string(), value.clone());
            continue;
        }
        match key {
            "name" | "connector.class" | "topics" | "topics.regex" => {}
            "contactPoints" | "port" | "datastax-java-driver.basic.contact-points" => {}
            "loadBalancing.localDc" => {
                if !is_blank(value) {
                    notes.push(format!(
                        "loadBalancing.localDc = {value}: cassflow's driver routes token-aware to \
                         every node it discovers; with one datacenter this is the same"
                    ));
                }
            }
            "cloud.secureConnectBundle" => {
                if !is_blank(value) {
                    return Err(unsupported(
                        key,
                        "cassflow does not connect to DataStax Astra through a secure connect bundle",
                    ));
                }
            }
            "auth.provider" => match value.trim() {
                "" | "None" | "NONE" | "none" => {}
                "PLAIN" | "DSE" => {
                    let user = s.get("auth.username").filter(|u| !is_blank(u));
                    let Some(user) = user else {
                        return Err(ImportError::Missing {
                            setting: "auth.username".into(),
                            why: "auth.provider = PLAIN needs a user name".into(),
                        });
                    };
                    cassandra.push(("username".into(), user.clone()));
                    if let Some(pw) = s.get("auth.password") {
                        cassandra.push(("password".into(), pw.clone()));
                    }
                }
                other => {
                    return Err(unsupported(
                        key,
                        format!("`{other}`: cassflow authenticates to Cassandra with a user name and password only (PLAIN)"),
                    ))
                }
            },
            "auth.username" | "auth.password" => {}
            "auth.gssapi.keyTab" | "auth.gssapi.principal" => {
                if !is_blank(value) {
                    return Err(unsupported(key, "cassflow has no Kerberos (GSSAPI) authentication"));
                }
            }
            "ssl.provider" => {
                if !matches!(value.trim(), "" | "None" | "NONE" | "none") {
                    return Err(unsupported(
                        key,
                        format!("`{value}`: cassflow connects to Cassandra without TLS; put the nodes on a trusted network or a TLS tunnel"),
                    ));
                }
            }
            k if k.starts_with("ssl.") => {
                let provider = s.get("ssl.provider").map(|p| p.trim()).unwrap_or("");
                if !is_blank(value) && !matches!(provider, "" | "None" | "NONE" | "none") {
                    return Err(unsupported(k, "cassflow connects to Cassandra without TLS"));
                }
            }
            "errors.deadletterqueue.topic.name" => {
                if !is_blank(value) {
                    dead_letter_topic = Some(value.clone());
                }
            }
            "bootstrap.servers" => kafka.push(("bootstrap".into(), value.clone())),
            "key.converter" | "value.converter" => {
                let v = value.trim();
                if !(v.ends_with("JsonConverter") || v.ends_with("StringConverter")) {
                    return Err(unsupported(
                        key,
                        format!("`{v}`: cassflow reads JSON (and text keys); Avro, Protobuf and other converters are not supported"),
                    ));
                }
            }
            "transforms" => {
                if !is_blank(value) {
                    return Err(unsupported(
                        key,
                        "single message transforms have no cassflow equivalent; map fields with `columns` expressions instead",
                    ));
                }
            }
            k => match TUNING.iter().find(|(name, _)| *name == k) {
                Some((_, why)) => notes.push(format!("{k} = {value}: {why}")),
                None if k.starts_with("datastax-java-driver.") => {
                    return Err(unsupported(k, "cassflow does not take DataStax Java driver settings"))
                }
                None => return Err(unsupported(k, "the DataStax connector setting is unknown to this importer")),
            },
        }
    }
    cassandra.insert(0, ("contact_points".into(), contact_points(s)?));
    if tables.is_empty() {
        return Err(ImportError::Missing {
            setting: format!("topic.{}.<keyspace>.<table>.mapping", topics[0]),
            why: "no table mapping is configured".into(),
        });
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "# cassflow.toml imported by `cassflow import-connector` from {origin}\n\
         # (DataStax Apache Kafka Connector sink{}).",
        s.get("name").map(|n| format!(" `{n}`")).unwrap_or_default()
    );
    for note in &notes {
        let _ = writeln!(out, "# {}", note.replace('\n', " "));
    }
    let _ = writeln!(out, "\n[kafka]");
    match kafka.first() {
        Some((k, v)) => {
            let _ = writeln!(out, "{k} = {}", quoted(v));
        }
        None => {
            let _ = writeln!(
                out,
                "# The connector's settings do not name the brokers (the Connect worker's\n\
                 # bootstrap.servers does): set them here or with CASSFLOW_KAFKA__BOOTSTRAP.\n\
                 # bootstrap = \"broker1:9092,broker2:9092\""
            );
        }
    }
    let _ = writeln!(out, "\n[cassandra]");
    for (k, v) in &cassandra {
        let _ = writeln!(out, "{k} = {}", quoted(v));
    }
    let mut names: Vec<String> = Vec::new();
    for table in tables.values() {
        let name = [
            table.table.clone(),
            format!("{}_{}", table.keyspace, table.table),
            format!("{}_{}_{}", table.topic, table.keyspace, table.table),
        ]
        .into_iter()
        .find(|n| !names.contains(n))
        .unwrap_or_else(|| format!("{}_{}", table.table, names.len()));
        names.push(name.clone());
        let alone = tables.values().filter(|t| t.topic == table.topic).count() == 1;
        let group = s
            .get("name")
            .filter(|_| alone)
            .map(|n| format!("connect-{n}"));
        pipeline(
            &mut out,
            &name,
            table,
            codecs.get(&table.topic),
            dead_letter_topic.as_deref(),
            group.as_deref(),
        )?;
    }
    Ok(out)
}

/// `contactPoints` with `port` appended to each host (as the connector does), or
/// `datastax-java-driver.basic.contact-points` as it is; the connector's default is
/// localhost.
fn contact_points(s: &Settings) -> Result<String, ImportError> {
    let port = match s.get("port").map(|p| p.trim()).filter(|p| !p.is_empty()) {
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| unsupported("port", format!("`{p}` is not a port number")))?,
        None => 9042,
    };
    let hosts: Vec<&str> = s
        .get("contactPoints")
        .map(|c| {
            c.split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if !hosts.is_empty() {
        return Ok(hosts
            .iter()
            .map(|h| format!("{h}:{port}"))
            .collect::<Vec<_>>()
            .join(","));
    }
    if let Some(points) = s
        .get("datastax-java-driver.basic.contact-points")
        .filter(|p| !is_blank(p))
    {
        return Ok(points
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join(","));
    }
    Ok(format!("localhost:{port}"))
}

#[cfg(test)]
mod tests;
