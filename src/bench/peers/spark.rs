//! The Spark peer: the seed notebook's Structured Streaming job (`bench/spark_job.py`) on
//! pyspark from PyPI, with spark-sql-kafka and the spark-cassandra-connector from Maven
//! Central, `local[2]`, tuned as the connector's docs advise ([`TUNING`]). It reads the JSON
//! topic, and the Avro topic through spark-avro with the schema looked up in the registry.
//! A second run on the JSON topic, "spark tuned", sets the connector's write settings for
//! throughput on this workload ([`TUNED`]), so cassflow's grouped writes meet Spark's
//! best, not only its usual configuration.

use crate::bench::measure::landing;
use crate::bench::run::{spawn_logged, Ctx, PeerProcess};
use crate::bench::runs::latency::{self, LatencyResult};
use crate::bench::runs::sink::{self, SinkResult};
use crate::bench::{peers::install, say, BenchError, Peer};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tokio::process::{Child, Command};

const JOB: &str = include_str!("../../../bench/spark_job.py");

/// Spark settings used by every run, as documented by the spark-cassandra-connector
/// (reference.md, "Write Tuning Parameters") and Spark's Kafka integration guide.
pub const TUNING: &[(&str, &str)] = &[
    // Batches written in parallel per task (default 5); the docs' first knob for throughput.
    ("spark.cassandra.output.concurrent.writes", "32"),
    // Rows grouped into unlogged batches by partition key (the default and the documented
    // advice; every user is its own partition, so batches hold one row each).
    ("spark.cassandra.output.batch.grouping.key", "partition"),
    ("spark.cassandra.output.batch.size.bytes", "1024"),
    // One replica: LOCAL_ONE avoids nothing on one node but states the intent.
    ("spark.cassandra.output.consistency.level", "LOCAL_ONE"),
    ("spark.sql.shuffle.partitions", "2"),
    ("spark.ui.enabled", "false"),
    ("spark.driver.memory", "1g"),
];

/// The connector's write settings for throughput on this workload, over [`TUNING`], from
/// its reference ("Write Tuning Parameters" and the connection pool of
/// `CassandraConnectorConf`, spark-cassandra-connector 3.5):
pub const TUNED: &[(&str, &str)] = &[
    // A batch may hold rows of different partitions written to the same replicas: every
    // user is its own partition, so grouping by partition leaves one row per batch.
    ("spark.cassandra.output.batch.grouping.key", "replica_set"),
    // Rows per batch (overrides batch.size.bytes): 8, as cassflow's stream.batch_max_rows,
    // about 3.2 kB of these rows, under Cassandra's 5 kB batch warning.
    ("spark.cassandra.output.batch.size.rows", "8"),
    // Batches in flight per task (default 5), two tasks at a time on local[2].
    ("spark.cassandra.output.concurrent.writes", "64"),
    // Connections to the local node per executor (default: cores - 1 = 1): one per task.
    (
        "spark.cassandra.connection.localConnectionsPerExecutor",
        "2",
    ),
];

/// The settings of a run: [`TUNING`], with [`TUNED`] over it when `tuned`.
pub fn tuning(tuned: bool) -> Vec<(&'static str, &'static str)> {
    let mut settings: Vec<(&str, &str)> = TUNING.to_vec();
    if tuned {
        for (key, value) in TUNED {
            match settings.iter_mut().find(|(k, _)| k == key) {
                Some(setting) => setting.1 = value,
                None => settings.push((key, value)),
            }
        }
        // A size in rows makes the size in bytes moot: not listed as if it applied.
        settings.retain(|(k, _)| *k != "spark.cassandra.output.batch.size.bytes");
    }
    settings
}

/// The name of the run on the Avro topic in the report.
pub const AVRO_PIPELINE: &str = "spark avro";

/// Offsets per micro-batch on the pre-filled topic (bounded batches, as the Kafka
/// integration guide advises for a backlog).
pub const MAX_OFFSETS_PER_TRIGGER: u64 = 200_000;

/// An installed Spark peer.
pub struct Spark {
    python: PathBuf,
    job: PathBuf,
    /// Comma-separated jars for `spark.jars`.
    jars: String,
}

impl Spark {
    /// Installs pyspark (venv) and the connector jars unless cached, and writes the job.
    pub async fn install(ctx: &Ctx) -> Result<Spark, BenchError> {
        say!(
            "    spark: installing on first use (cached in {})",
            ctx.bench_cache.display()
        );
        let python = install::venv(&ctx.bench_cache).await?;
        let lib = install::maven_jars(
            &ctx.config.local.maven,
            &ctx.bench_cache
                .join(format!("spark-jars-{}", install::PYSPARK_VERSION)),
            install::SPARK_POM,
            &[
                ("spark.version", install::PYSPARK_VERSION),
                ("connector.version", install::CONNECTOR_VERSION),
            ],
        )
        .await?;
        let job = ctx.bench_cache.join("spark_job.py");
        std::fs::write(&job, JOB).map_err(|source| BenchError::Io {
            context: format!("write {}", job.display()),
            source,
        })?;
        let venv = python
            .parent()
            .and_then(Path::parent)
            .unwrap_or(Path::new("."));
        let jars = extra_jars(&lib, &pyspark_jars(venv))?;
        Ok(Spark { python, job, jars })
    }

    /// Starts the job of `run` on `topic`, reading it from the start: every run's topic is
    /// fresh or pre-filled, so every record counts.
    fn spawn(
        &self,
        ctx: &Ctx,
        topic: &str,
        run: Run,
        target: &landing::Target,
        max_offsets: u64,
        log: &Path,
    ) -> Result<Child, BenchError> {
        let (host, port) = ctx.config.cassandra.first_contact_point();
        let mut command = Command::new(&self.python);
        command
            .arg(&self.job)
            .args(["--bootstrap", &ctx.config.kafka.bootstrap])
            .args(["--topic", topic])
            .args(["--cassandra-host", host])
            .args(["--cassandra-port", &port.to_string()])
            .args(["--keyspace", &target.keyspace, "--table", &target.table])
            .arg("--checkpoint")
            .arg(ctx.work_dir.join(format!("{}-checkpoint", target.keyspace)))
            .args(["--jars", &self.jars])
            .args(["--starting-offsets", "earliest"])
            .args(["--max-offsets-per-trigger", &max_offsets.to_string()])
            .env("PYSPARK_PYTHON", &self.python)
            .env("SPARK_LOCAL_IP", "127.0.0.1");
        for (k, v) in tuning(run == Run::Tuned) {
            command.arg("--conf").arg(format!("{k}={v}"));
        }
        if run == Run::Avro {
            let registry = &ctx.config.schema_registry;
            command
                .args(["--format", "avro"])
                .args(["--registry-url", &registry.url])
                .args(["--subject", &format!("{topic}-value")]);
            if let Some(ca) = &registry.ca {
                command.arg("--registry-ca").arg(ca);
            }
            if let (Some(user), Some(password)) = (&registry.username, &registry.password) {
                command
                    .env("REGISTRY_USERNAME", user)
                    .env("REGISTRY_PASSWORD", password);
            }
        }
        spawn_logged(command, log)
    }

    /// Sink throughput on the pre-filled JSON topic, with the usual settings ("spark") or
    /// the connector's throughput settings ("spark tuned").
    pub async fn sink(&self, ctx: &Ctx, tuned: bool) -> Result<SinkResult, BenchError> {
        let run = if tuned { Run::Tuned } else { Run::Json };
        self.sink_on(ctx, &ctx.topic, run).await
    }

    /// Sink throughput on `topic`, the same records as Avro in the wire format under the
    /// subject `<topic>-value`.
    pub async fn sink_avro(&self, ctx: &Ctx, topic: &str) -> Result<SinkResult, BenchError> {
        self.sink_on(ctx, topic, Run::Avro).await
    }

    async fn sink_on(&self, ctx: &Ctx, topic: &str, run: Run) -> Result<SinkResult, BenchError> {
        let name = run.name();
        let (target, idle) = sink::fresh_table(ctx).await?;
        let log = ctx.work_dir.join(format!(
            "{}-{}.log",
            target.keyspace,
            name.replace(' ', "-")
        ));
        say!(
            "    {name}: local[2] job on {topic} into {} (log: {})",
            target.cql(),
            log.display()
        );
        let started = Instant::now();
        let child = self.spawn(ctx, topic, run, &target, MAX_OFFSETS_PER_TRIGGER, &log)?;
        let mut children = vec![PeerProcess::new(child, &log)];
        let mut settings = settings(true, run == Run::Tuned);
        if run == Run::Avro {
            settings.push(format!(
                "spark-avro_2.12 {}: from_avro(substring(value, 6), the subject's latest schema from the registry)",
                install::PYSPARK_VERSION
            ));
        }
        sink::measure(ctx, name, (&target, idle), &mut children, started, settings).await
    }

    /// Latency at each rate. The topic is fresh, so the job reads it from the start: every
    /// warm-up record counts (with `latest`, those sent before the query started are never
    /// read, and the final count could not prove anything).
    pub async fn latency(&self, ctx: &Ctx) -> Result<Vec<LatencyResult>, BenchError> {
        latency::run_process(ctx, Peer::Spark, "spark", |topic, target, log| {
            let child = self.spawn(ctx, topic, Run::Json, target, 0, log)?;
            Ok(PeerProcess::new(child, log))
        })
        .await
    }
}

/// What a Spark run reads and how it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    /// The JSON topic, [`TUNING`].
    Json,
    /// The JSON topic, [`TUNED`] over [`TUNING`].
    Tuned,
    /// The Avro topic through the registry, [`TUNING`].
    Avro,
}

impl Run {
    /// Its name in the report.
    fn name(self) -> &'static str {
        match self {
            Run::Json => crate::bench::report::targets::SPARK,
            Run::Tuned => crate::bench::report::targets::SPARK_TUNED,
            Run::Avro => AVRO_PIPELINE,
        }
    }
}

/// The settings of a run, for the report.
pub fn settings(backlog: bool, tuned: bool) -> Vec<String> {
    let mut s = vec![
        format!("pyspark {} local[2]", install::PYSPARK_VERSION),
        format!(
            "spark-cassandra-connector_2.12 {}",
            install::CONNECTOR_VERSION
        ),
    ];
    s.extend(tuning(tuned).iter().map(|(k, v)| format!("{k}={v}")));
    if backlog {
        s.push(format!("maxOffsetsPerTrigger={MAX_OFFSETS_PER_TRIGGER}"));
    }
    s.push("trigger=default (next micro-batch as soon as the last ends)".into());
    s
}

/// Names of the jars pyspark ships, without versions (`scala-library`, ...).
fn pyspark_jars(venv: &Path) -> HashSet<String> {
    let mut names = HashSet::new();
    let Ok(libs) = std::fs::read_dir(venv.join("lib")) else {
        return names;
    };
    for python in libs.filter_map(Result::ok) {
        let dir = python.path().join("site-packages/pyspark/jars");
        if let Ok(jars) = std::fs::read_dir(dir) {
            names.extend(
                jars.filter_map(Result::ok)
                    .filter_map(|j| j.file_name().to_str().map(artifact_name)),
            );
        }
    }
    names
}

/// `kafka-clients-3.4.1.jar` -> `kafka-clients`.
fn artifact_name(file: &str) -> String {
    let stem = file.trim_end_matches(".jar");
    let parts: Vec<&str> = stem.split('-').collect();
    let cut = parts
        .iter()
        .position(|p| p.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .unwrap_or(parts.len());
    parts[..cut].join("-")
}

/// The resolved jars Spark does not already ship (a second copy of a class on the class
/// path at another version is how Spark jobs break).
fn extra_jars(lib: &Path, shipped: &HashSet<String>) -> Result<String, BenchError> {
    let entries = std::fs::read_dir(lib).map_err(|source| BenchError::Io {
        context: format!("read {}", lib.display()),
        source,
    })?;
    let mut jars: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            (name.ends_with(".jar") && !shipped.contains(&artifact_name(&name)))
                .then(|| e.path().display().to_string())
        })
        .collect();
    jars.sort();
    Ok(jars.join(","))
}

#[cfg(test)]
mod tests {
    use super::{artifact_name, tuning, TUNING};

    #[test]
    fn the_tuned_run_sets_the_connectors_throughput_settings_over_the_usual_ones() {
        assert_eq!(tuning(false), TUNING.to_vec());
        let tuned = tuning(true);
        let get = |key: &str| {
            tuned
                .iter()
                .filter(|(k, _)| *k == key)
                .map(|(_, v)| *v)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            get("spark.cassandra.output.batch.grouping.key"),
            ["replica_set"]
        );
        assert_eq!(get("spark.cassandra.output.batch.size.rows"), ["8"]);
        assert_eq!(get("spark.cassandra.output.concurrent.writes"), ["64"]);
        assert_eq!(
            get("spark.cassandra.connection.localConnectionsPerExecutor"),
            ["2"]
        );
        // Overridden by the size in rows, so not listed.
        assert!(get("spark.cassandra.output.batch.size.bytes").is_empty());
        // The rest as in the usual run.
        assert_eq!(
            get("spark.cassandra.output.consistency.level"),
            ["LOCAL_ONE"]
        );
        assert_eq!(get("spark.driver.memory"), ["1g"]);
    }

    #[test]
    fn artifact_names_drop_versions() {
        assert_eq!(artifact_name("kafka-clients-3.4.1.jar"), "kafka-clients");
        assert_eq!(
            artifact_name("spark-cassandra-connector_2.12-3.5.1.jar"),
            "spark-cassandra-connector_2.12"
        );
        assert_eq!(
            artifact_name("java-driver-shaded-guava-25.1-jre-graal-sub-1.jar"),
            "java-driver-shaded-guava"
        );
    }
}
