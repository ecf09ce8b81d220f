//! The Kafka Connect peer: Kafka's own Connect runtime in standalone mode (the broker's
//! version) running Apache Camel's CQL sink, all resolved from Maven Central through
//! `bench/connect/pom.xml`. No packaged Cassandra sink connector is on Maven Central
//! ([`NOT_ON_CENTRAL`]), so the bench assembles what the `camel-cql-kafka-connector`
//! package bundles: camel-kafka-connector's generic `CamelSinkConnector` plus the
//! camel-cassandraql component. Each message is bound whole to `INSERT INTO <table> JSON ?`,
//! so Cassandra itself maps the record's fields to the columns of the same name.

use super::landing::{self, Target};
use super::latency::{self, LatencyResult};
use super::run::{spawn_logged, Ctx};
use super::sink::{self, SinkResult};
use super::{install, say, BenchError};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tokio::process::{Child, Command};

/// camel-kafka-connector's last release with the generic sink connector on Maven Central.
pub const CAMEL_KAFKA_CONNECTOR_VERSION: &str = "0.11.0";
/// The Camel release camel-kafka-connector 0.11.0 was built on (camel-cassandraql's too).
pub const CAMEL_VERSION: &str = "3.11.1";

pub const POM: &str = include_str!("../../bench/connect/pom.xml");

/// Packaged Cassandra sink connectors looked for on Maven Central, none found.
pub const NOT_ON_CENTRAL: &[&str] = &[
    "com.datastax.oss:kafka-connect-cassandra-sink (DataStax; a tarball outside Maven Central)",
    "org.apache.camel.kafkaconnector:camel-cassandra-sink-kafka-connector (Camel 3.x/4.x)",
    "org.apache.camel.kafkaconnector:camel-cql-kafka-connector (Camel 0.x)",
    "com.datamountaineer:kafka-connect-cassandra (Lenses stream-reactor; GitHub releases)",
];

/// The JVM options of Kafka's `connect-standalone.sh`.
const HEAP: &[&str] = &["-Xms256M", "-Xmx2G"];

/// Connector settings of every run, for the report; the one knob that matters is
/// `tasks.max` (each task writes one record at a time, synchronously), set to the
/// topic's partitions.
const TUNING: &[&str] = &[
    "key.converter/value.converter=StringConverter (the JSON text is bound as is)",
    "camel.sink.url=cql://<host>:<port>/<keyspace>?cql=INSERT INTO created_users JSON ?&consistencyLevel=LOCAL_ONE",
    "prepareStatements=true (Camel's default)",
    "consumer.max.poll.records=500 (Connect's default)",
];

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
            ],
        )
        .await?;
        let datacenter = crate::cassandra::data_center(&ctx.session).await?;
        Ok(Connect { lib, datacenter })
    }

    /// Starts a standalone worker with one sink connector from `topic` (read from the
    /// start) into `target`.
    fn spawn(
        &self,
        ctx: &Ctx,
        topic: &str,
        target: &Target,
        log: &Path,
    ) -> Result<Child, BenchError> {
        let (host, port) = landing::first_contact_point(&ctx.config.cassandra);
        let name = format!("{}-connect", target.keyspace);
        let file = |suffix: &str| ctx.work_dir.join(format!("{name}{suffix}"));
        let worker = [
            format!("bootstrap.servers={}", ctx.config.kafka.bootstrap),
            "key.converter=org.apache.kafka.connect.storage.StringConverter".into(),
            "value.converter=org.apache.kafka.connect.storage.StringConverter".into(),
            format!(
                "offset.storage.file.filename={}",
                file(".offsets").display()
            ),
            "offset.flush.interval.ms=1000".into(),
            // Its REST API is not used; an ephemeral port keeps runs from colliding.
            "listeners=http://127.0.0.1:0".into(),
            "consumer.auto.offset.reset=earliest".into(),
        ];
        let connector = [
            format!("name={name}"),
            "connector.class=org.apache.camel.kafkaconnector.CamelSinkConnector".into(),
            format!("tasks.max={}", ctx.opts.partitions),
            format!("topics={topic}"),
            format!(
                "camel.sink.url=cql://{host}:{port}/{}?cql=RAW(INSERT INTO {} JSON ?)&datacenter={}&consistencyLevel=LOCAL_ONE",
                target.keyspace, target.table, self.datacenter
            ),
        ];
        let log4j = [
            "log4j.rootLogger=INFO, stdout",
            "log4j.appender.stdout=org.apache.log4j.ConsoleAppender",
            "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout",
            "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n",
        ];
        let worker = write_lines(&file("-worker.properties"), &worker)?;
        let connector = write_lines(&file("-sink.properties"), &connector)?;
        let log4j = write_lines(&file("-log4j.properties"), &log4j)?;
        let mut command = Command::new(&ctx.config.local.java);
        command
            .args(HEAP)
            .arg(format!("-Dlog4j.configuration=file:{}", log4j.display()))
            .arg("-cp")
            .arg(format!("{}/*", self.lib.display()))
            .arg("org.apache.kafka.connect.cli.ConnectStandalone")
            .arg(worker)
            .arg(connector);
        spawn_logged(command, log)
    }

    /// Sink throughput on the pre-filled topic.
    pub async fn sink(&self, ctx: &Ctx) -> Result<SinkResult, BenchError> {
        let target = landing::fresh_table(&ctx.session, &ctx.config.cassandra).await?;
        let log = ctx
            .work_dir
            .join(format!("{}-connect.log", target.keyspace));
        say!(
            "    kafka connect: standalone worker, {} tasks, into {} (log: {})",
            ctx.opts.partitions,
            target.cql(),
            log.display()
        );
        let started = Instant::now();
        let child = self.spawn(ctx, &ctx.topic, &target, &log)?;
        let mut children = vec![(child, log)];
        sink::measure(
            ctx,
            "kafka connect",
            &target,
            &mut children,
            started,
            self.settings(ctx),
        )
        .await
    }

    /// Latency at each rate, the topic read from the start like Spark's.
    pub async fn latency(&self, ctx: &Ctx) -> Result<Vec<LatencyResult>, BenchError> {
        latency::run_process(ctx, "connect", "kafka connect", |topic, target, log| {
            self.spawn(ctx, topic, target, log)
        })
        .await
    }

    fn settings(&self, ctx: &Ctx) -> Vec<String> {
        let mut s = vec![
            format!(
                "Kafka Connect {} standalone, {}",
                ctx.config.local.kafka_version,
                HEAP.join(" ")
            ),
            format!(
                "camel-kafka-connector {CAMEL_KAFKA_CONNECTOR_VERSION} CamelSinkConnector + camel-cassandraql {CAMEL_VERSION}"
            ),
            format!("tasks.max={}", ctx.opts.partitions),
        ];
        s.extend(TUNING.iter().map(|t| t.to_string()));
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
pub fn note() -> String {
    format!(
        "Kafka Connect runs Apache Camel's CQL sink (camel-kafka-connector {CAMEL_KAFKA_CONNECTOR_VERSION} with camel-cassandraql {CAMEL_VERSION}, from Maven Central); no packaged Cassandra sink connector is on Maven Central (looked for: {}).",
        NOT_ON_CENTRAL.join("; ")
    )
}
