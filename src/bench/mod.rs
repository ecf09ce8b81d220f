//! `cassflow bench`: cassflow measured side by side with what users would pick instead, on
//! the same local Kafka and Cassandra, the same records, in one run:
//! - producer: cassflow's producer against Kafka's `kafka-producer-perf-test`
//!   ([`runs::producer`]);
//! - sink throughput on a pre-filled topic into a fresh table, until the last row is
//!   readable: cassflow stream x1/x2/x4, Spark Structured Streaming ([`peers::spark`]),
//!   Kafka Connect with Apache Camel's CQL sink ([`peers::connect`]), the raw driver
//!   ([`runs::sink`]); the same records as Avro through the schema registry, for cassflow
//!   and Spark;
//! - end-to-end latency at fixed rates for cassflow, Spark and Kafka Connect
//!   ([`runs::latency`]);
//! - peak RSS and CPU seconds of every pipeline process ([`measure::procstat`]), and the
//!   CPU seconds of the Cassandra server during each sink run ([`measure::server_cpu`]).
//!
//! It starts only on an idle machine ([`measure::hygiene`]).
//!
//! Every figure stands on a verification (count + sample compared, [`measure::landing`]) or
//! is not reported. Results go to JSON, markdown and a PNG chart ([`report`]). The bench
//! never stops servers it did not start.
//!
//! The harness is split along its concepts: [`peers`] (the other engines and their
//! installation), [`measure`] (how things are measured on the machine), [`runs`] (the
//! measured runs themselves), [`report`] (results, targets, rendering); this module holds
//! the options and [`run`](mod@run) the orchestration.

pub mod measure;
pub mod peers;
pub mod report;
pub mod run;
pub mod runs;
pub mod scratch;

pub use run::{rerender, run};

use std::path::PathBuf;
use std::time::Duration;

/// Prints a progress line to stdout (a closed stdout must not stop the bench).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}
pub(crate) use say;

/// Something measured side by side.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Peer {
    /// `cassflow stream` (sink throughput with each instance count, and latency).
    Cassflow,
    /// Spark Structured Streaming with the spark-cassandra-connector (pyspark from PyPI).
    Spark,
    /// Kafka Connect (standalone) with Apache Camel's CQL sink, from Maven Central.
    Connect,
    /// The raw scylla-driver loop: the ceiling of one process, no Kafka.
    Raw,
    /// cassflow's producer against kafka-producer-perf-test.
    Producer,
    /// `cassflow stream` (one instance) on the same records as Avro in the wire format,
    /// through `[schema_registry]`, beside its run on JSON; Spark too, when it is measured.
    Avro,
}

impl Peer {
    pub fn name(self) -> &'static str {
        match self {
            Peer::Cassflow => "cassflow",
            Peer::Spark => "spark",
            Peer::Connect => "connect",
            Peer::Raw => "raw",
            Peer::Producer => "producer",
            Peer::Avro => "avro",
        }
    }
}

/// What to measure and where to write it.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Records in the pre-filled topic (and the producer runs).
    pub records: u64,
    pub peers: Vec<Peer>,
    /// cassflow stream instance counts for the sink runs.
    pub instances: Vec<usize>,
    /// Fixed rates (records/s) of the latency runs.
    pub latency_rates: Vec<u32>,
    /// How long each latency rate runs.
    pub latency_duration: Duration,
    /// Partitions of the bench topics (enough for the most instances).
    pub partitions: i32,
    /// Writes in flight of the raw driver loop.
    pub raw_concurrency: usize,
    /// Batches in flight of the grouped raw driver loop.
    pub raw_batch_concurrency: usize,
    /// Where benchmarks.md, bench-results.json and bench.png go.
    pub out: PathBuf,
    /// Draw the PNG chart (needs the bench venv, installed on demand).
    pub chart: bool,
    /// Only re-render the report from the JSON already in `out`.
    pub report_only: bool,
    /// The `cassflow` binary to spawn for stream instances and workers.
    pub cassflow_bin: PathBuf,
    /// The command line, as printed in the report.
    pub command: String,
    /// How long one sink run may take before it counts as failed.
    pub sink_timeout: Duration,
    /// Start even when the machine is busy; the report then marks the figures.
    pub allow_busy: bool,
    /// Runs of the raw loop and of each cassflow sink run; the median one is reported.
    pub repeats: usize,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            records: 1_000_000,
            peers: vec![
                Peer::Cassflow,
                Peer::Spark,
                Peer::Connect,
                Peer::Raw,
                Peer::Producer,
                Peer::Avro,
            ],
            instances: vec![1, 2, 4],
            latency_rates: vec![1000, 5000, 20000],
            latency_duration: Duration::from_secs(10),
            partitions: 8,
            raw_concurrency: 128,
            raw_batch_concurrency: 32,
            out: PathBuf::from("docs"),
            chart: true,
            report_only: false,
            cassflow_bin: PathBuf::from("cassflow"),
            command: "cassflow bench".into(),
            sink_timeout: Duration::from_secs(1800),
            allow_busy: false,
            repeats: 3,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    #[error(transparent)]
    Kafka(Box<crate::kafka::KafkaError>),
    #[error(transparent)]
    Cassandra(Box<crate::cassandra::CassandraError>),
    #[error(transparent)]
    Local(Box<crate::local::LocalError>),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot install {what}: {detail} (log: {log})")]
    Install {
        what: String,
        detail: String,
        log: PathBuf,
    },
    #[error("{peer}: {detail}")]
    Peer { peer: String, detail: String },
    #[error("verification failed: {0}")]
    Verify(String),
    #[error("interrupted (Ctrl-C or SIGTERM); nothing reported")]
    Interrupted,
    #[error("the machine is busy: its 1-minute load average is {one_minute:.2} on {cores} cores, {per_core:.2} per core, above the {limit:.2} per core the bench allows, so other work would skew every figure (fix: wait until the machine is idle, or pass --allow-busy to run anyway; the report then marks the figures as measured on a busy machine)")]
    Busy {
        one_minute: f64,
        cores: usize,
        per_core: f64,
        limit: f64,
    },
}

impl From<crate::kafka::KafkaError> for BenchError {
    fn from(e: crate::kafka::KafkaError) -> Self {
        BenchError::Kafka(Box::new(e))
    }
}

impl From<crate::cassandra::CassandraError> for BenchError {
    fn from(e: crate::cassandra::CassandraError) -> Self {
        BenchError::Cassandra(Box::new(e))
    }
}

impl From<crate::local::LocalError> for BenchError {
    fn from(e: crate::local::LocalError) -> Self {
        BenchError::Local(Box::new(e))
    }
}
