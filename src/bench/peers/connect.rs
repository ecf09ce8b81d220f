//! The Kafka Connect peer: Kafka's own Connect runtime in standalone mode (the broker's
//! version) running Apache Camel's CQL sink, resolved from Maven Central through
//! `bench/connect/pom.xml`: camel-kafka-connector's generic `CamelSinkConnector` with the
//! camel-cassandraql component, which is what the `camel-cql-kafka-connector` package
//! bundles. No packaged Cassandra sink connector was served by the Maven repository this
//! machine reaches ([`NOT_RESOLVED`]). Each message is bound whole to
//! `INSERT INTO <table> JSON ?`, so Cassandra itself maps the record's fields to the
//! columns of the same name.

use crate::bench::measure::landing::Target;
use crate::bench::run::{spawn_logged, Ctx, PeerProcess};
use crate::bench::runs::latency::{self, LatencyResult};
use crate::bench::runs::sink::{self, SinkResult};
use crate::bench::{peers::install, say, BenchError, Peer};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tokio::process::Command;

/// The name of its figures in the report.
pub const PIPELINE: &str = "kafka connect (camel cql)";

/// The newest camel-kafka-connector release that resolves here.
pub const CAMEL_KAFKA_CONNECTOR_VERSION: &str = "0.11.0";
/// The Camel release camel-kafka-connector 0.11.0 was built on (camel-cassandraql's too).
pub const CAMEL_VERSION: &str = "3.11.1";
/// Kafka 3.9.1's Jackson, pinned for the whole class path (the Cassandra driver would bring
/// an older jackson-core); a different `local.kafka_version` may want another.
pub const JACKSON_VERSION: &str = "2.16.2";

pub const POM: &str = include_str!("../../../bench/connect/pom.xml");

/// Packaged Cassandra sink connectors asked for and not served by the Maven repository this
/// machine reaches (`mvn dependency:get`, and maven-metadata.xml requests).
pub const NOT_RESOLVED: &[&str] = &[
    "com.datastax.oss:kafka-connect-cassandra-sink 1.4.0, 1.5.0 (DataStax; released as a tarball)",
    "org.apache.camel.kafkaconnector:camel-cassandra-sink-kafka-connector 3.20.6, 4.11.0",
    "org.apache.camel.kafkaconnector:camel-cql-kafka-connector 0.11.5",
    "com.datamountaineer:kafka-connect-cassandra 1.2.3 (Lenses stream-reactor; GitHub releases)",
    "solutions.a2.cassandra:a2-cassandra-kafka-connect 1.1.0",
];

/// The JVM options Kafka's `connect-standalone.sh` gives its worker: the heap it sets and
/// `kafka-run-class.sh`'s `KAFKA_JVM_PERFORMANCE_OPTS`.
const JVM: &[&str] = &[
    "-Xms256M",
    "-Xmx2G",
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:MaxInlineLevel=15",
    "-Djava.awt.headless=true",
];

/// The worker's converters: the JSON text is bound as is.
const CONVERTERS: &[&str] = &[
    "key.converter=org.apache.kafka.connect.storage.StringConverter",
    "value.converter=org.apache.kafka.connect.storage.StringConverter",
];

/// What Connect logs when a task dies; the worker process lives on without it.
const TASK_FAILED: &str = "Task is being killed and will not recover";

/// An installed Connect peer.
pub struct Connect {
    lib: PathBuf,
    /// The node's data center, which Camel's driver needs to name.
    datacenter: String,
}

impl Connect {
    /// Resolves connect-runtime and the Camel sink unless cached.
    pub async fn install(ctx: &Ctx) -> Result<Connect, BenchError> {
        let kafka = &ctx.config.local.kafka_version;
        let home = ctx.bench_cache.join(format!(
            "connect-{kafka}-camel-{CAMEL_KAFKA_CONNECTOR_VERSION}"
        ));
        let lib = install::maven_jars(
            &ctx.config.local.maven,
            &home,
            POM,
            &[
                ("kafka.version", kafka.as_str()),
                (
                    "camel.kafkaconnector.version",
                    CAMEL_KAFKA_CONNECTOR_VERSION,
                ),
                ("camel.version", CAMEL_VERSION),
                ("jackson.version", JACKSON_VERSION),
            ],
        )
        .await?;
        let datacenter = crate::cassandra::data_center(&ctx.session).await?;
        Ok(Connect { lib, datacenter })
    }

    /// The connector's properties for `topic` into `target`. The worker's are Connect's
    /// defaults apart from [`CONVERTERS`], the offsets file and the REST port (unused; an
    /// ephemeral one keeps runs from colliding).
    fn connector_properties(&self, ctx: &Ctx, topic: &str, target: &Target) -> Vec<String> {
        let (host, port) = ctx.config.cassandra.first_contact_point();
        vec![
            format!("name={}-connect", target.keyspace),
            "connector.class=org.apache.camel.kafkaconnector.CamelSinkConnector".into(),
            // A Camel sink task writes one record at a time and waits for it: the
            // connector's parallelism is its task count, one per partition.
            format!("tasks.max={}", ctx.opts.partitions),
            format!("topics={topic}"),
            format!(
                "camel.sink.url=cql://{host}:{port}/{}?cql=RAW(INSERT INTO {} JSON ?)&datacenter={}&consistencyLevel=LOCAL_ONE",
                target.keyspace, target.table, self.datacenter
            ),
        ]
    }

    /// Starts a standalone worker with one sink connector from `topic` (read from the
    /// start, Connect's default for a new sink) into `target`.
    fn spawn(
        &self,
        ctx: &Ctx,
        topic: &str,
        target: &Target,
        log: &Path,
    ) -> Result<PeerProcess, BenchError> {
        let file = |suffix: &str| {
            ctx.work_dir
                .join(format!("{}-connect{suffix}", target.keyspace))
        };
        let mut worker = vec![
            format!("bootstrap.servers={}", ctx.config.kafka.bootstrap),
            format!(
                "offset.storage.file.filename={}",
                file(".offsets").display()
            ),
            "listeners=http://127.0.0.1:0".into(),
        ];
        worker.extend(CONVERTERS.iter().map(|c| c.to_string()));
        let log4j = [
            "log4j.rootLogger=INFO, stdout",
            "log4j.appender.stdout=org.apache.log4j.ConsoleAppender",
            "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout",
            "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n",
        ];
        let worker = write_lines(&file("-worker.properties"), &worker)?;
        let connector = write_lines(
            &file("-sink.properties"),
            &self.connector_properties(ctx, topic, target),
        )?;
        let log4j = write_lines(&file("-log4j.properties"), &log4j)?;
        let mut command = Command::new(&ctx.config.local.java);
        command
            .args(JVM)
            .arg(format!("-Dlog4j.configuration=file:{}", log4j.display()))
            .arg("-cp")
            .arg(format!("{}/*", self.lib.display()))
            .arg("org.apache.kafka.connect.cli.ConnectStandalone")
            .arg(worker)
            .arg(connector);
        Ok(PeerProcess::new(spawn_logged(command, log)?, log).failing_on(TASK_FAILED))
    }

    /// Sink throughput on the pre-filled topic.
    pub async fn sink(&self, ctx: &Ctx) -> Result<SinkResult, BenchError> {
        let (target, idle) = sink::fresh_table(ctx).await?;
        let log = ctx
            .work_dir
            .join(format!("{}-connect.log", target.keyspace));
        say!(
            "    {PIPELINE}: standalone worker, {} tasks, into {} (log: {})",
            ctx.opts.partitions,
            target.cql(),
            log.display()
        );
        let started = Instant::now();
        let mut children = vec![self.spawn(ctx, &ctx.topic, &target, &log)?];
        let settings = self.settings(ctx, &target);
        sink::measure(
            ctx,
            PIPELINE,
            (&target, idle),
            &mut children,
            started,
            settings,
        )
        .await
    }

    /// Latency at each rate, the topic read from the start like Spark's.
    pub async fn latency(&self, ctx: &Ctx) -> Result<Vec<LatencyResult>, BenchError> {
        latency::run_process(ctx, Peer::Connect, PIPELINE, |topic, target, log| {
            self.spawn(ctx, topic, target, log)
        })
        .await
    }

    /// The settings of a run, for the report: the JVM, the versions, the converters and the
    /// connector's properties as written.
    fn settings(&self, ctx: &Ctx, target: &Target) -> Vec<String> {
        let mut s = vec![
            format!(
                "Kafka Connect {} standalone ({})",
                ctx.config.local.kafka_version,
                JVM.join(" ")
            ),
            format!(
                "camel-kafka-connector {CAMEL_KAFKA_CONNECTOR_VERSION} + camel-cassandraql {CAMEL_VERSION}"
            ),
        ];
        s.extend(CONVERTERS.iter().map(|c| c.to_string()));
        s.extend(self.connector_properties(ctx, &ctx.topic, target));
        s
    }
}

/// Writes a properties file, one line each; returns its path.
fn write_lines(path: &Path, lines: &[impl AsRef<str>]) -> Result<PathBuf, BenchError> {
    let mut text = String::new();
    for line in lines {
        text.push_str(line.as_ref());
        text.push('\n');
    }
    std::fs::write(path, text).map_err(|source| BenchError::Io {
        context: format!("write {}", path.display()),
        source,
    })?;
    Ok(path.to_path_buf())
}

/// The report's note on which connector was measured and why not a packaged one.
pub fn note(partitions: i32) -> String {
    format!(
        "Kafka Connect runs Apache Camel's CQL sink (camel-kafka-connector {CAMEL_KAFKA_CONNECTOR_VERSION} with camel-cassandraql {CAMEL_VERSION}). A Camel sink task writes one record at a time, so at most {partitions} writes (`tasks.max`, one task per partition) are in flight; a sink that batches or writes asynchronously (the DataStax connector) may do better, but none was served by the Maven repository this machine reaches (asked for: {}).",
        NOT_RESOLVED.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::TASK_FAILED;

    #[test]
    fn the_fatal_line_is_what_connect_logs_when_a_task_dies() {
        // WorkerTask's message in connect-runtime 3.9.1, as logged by a task whose insert
        // failed (seen in a run against a missing table).
        let logged = "ERROR WorkerSinkTask{id=ct-sink2-1} Task threw an uncaught and unrecoverable exception. Task is being killed and will not recover until manually restarted. Error: Exchange delivery has failed! (org.apache.kafka.connect.runtime.WorkerSinkTask)";
        assert!(logged.contains(TASK_FAILED));
        // Not the line of a task failing while it is being stopped.
        let shutdown = "ERROR Task threw an uncaught and unrecoverable exception during shutdown";
        assert!(!shutdown.contains(TASK_FAILED));
    }
}
