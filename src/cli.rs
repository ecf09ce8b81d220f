//! Command-line shape of `cassflow`: subcommands, flags and their help texts.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Stream records from Kafka into Cassandra.
///
/// cassflow replaces the classic Airflow + Kafka + Spark + Cassandra demo stack with one
/// program: it fetches or generates users, produces them to Kafka topic `users_created`,
/// and streams them into Cassandra table `spark_streams.created_users`.
#[derive(Debug, Parser)]
#[command(
    name = "cassflow",
    version,
    about,
    long_about,
    propagate_version = true
)]
pub struct Cli {
    /// Configuration file (TOML). Defaults to ./cassflow.toml when it exists; every key can
    /// also be set by environment, e.g. CASSFLOW_KAFKA__BOOTSTRAP=host:9092.
    #[arg(long, global = true, env = "CASSFLOW_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Log filter, e.g. `info`, `debug`, `cassflow=debug,warn`. RUST_LOG wins when set.
    #[arg(long, global = true, env = "CASSFLOW_LOG", default_value = "info")]
    pub log_level: String,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the main job: start the local Kafka and Cassandra unless they already answer on
    /// the configured ports, create the topic, keyspace and table, and stay up until Ctrl-C.
    Up {
        /// Leave the local Kafka and Cassandra running after Ctrl-C (by default `up` stops
        /// the servers it started, and only those).
        #[arg(long)]
        keep_stack: bool,
    },
    /// Manage the local Apache Kafka (KRaft) and Apache Cassandra on loopback, assembled
    /// from their Maven Central artifacts (no Docker needed).
    Local {
        #[command(subcommand)]
        command: LocalCommand,
    },
    /// Run the stream job: every pipeline's Kafka topic into its Cassandra table, at least
    /// once, with dead letters for bad messages. Run several (same group) to scale out.
    /// Stops on Ctrl-C/SIGTERM after finishing in-flight writes and committing them.
    Stream {
        /// Re-read each topic from its first retained message (resets the group's offsets;
        /// stop other instances of the group first).
        #[arg(long, conflicts_with = "from_timestamp")]
        from_beginning: bool,
        /// Re-read from the first message at or after this time (RFC 3339, e.g.
        /// 2026-11-24T10:00:00Z, or milliseconds since the epoch).
        #[arg(long, value_name = "TIME")]
        from_timestamp: Option<String>,
        /// Run only this pipeline (by name); all configured pipelines by default.
        #[arg(long, value_name = "NAME")]
        pipeline: Option<String>,
    },
    /// Produce records to Kafka: users from the randomuser API or the built-in generator,
    /// or JSON lines on stdin (users records, or with --pipeline that pipeline's own records).
    /// Creates the topic when missing. Shows a progress bar on a terminal and always ends
    /// with a summary line; exits 1 if any record was not delivered or any input line was
    /// invalid. The users sources write only into a users pipeline's topic.
    #[command(after_help = PRODUCE_EXAMPLES)]
    Produce(ProduceArgs),
    /// Measure cassflow side by side with Spark Structured Streaming, Kafka Connect, a raw
    /// driver loop and kafka-producer-perf-test on the configured Kafka and Cassandra
    /// (starting the local stack if nothing answers), and write docs/benchmarks.md,
    /// bench-results.json and bench.png. Peers are installed on first use into
    /// ~/.cache/cassflow/bench. Example: cassflow --config bench/stack.toml bench
    Bench(BenchArgs),
    /// Internal: one measured process of `cassflow bench` (spec as JSON).
    #[command(hide = true)]
    BenchWorker {
        spec: String,
        #[arg(long)]
        result: std::path::PathBuf,
    },
    /// The scheduler's DAGs: list, trigger, pause, unpause. Works whether or not
    /// `cassflow up` runs (its scheduler starts triggered runs).
    Dags {
        #[command(subcommand)]
        command: crate::scheduler_cli::DagsCommand,
    },
    /// Recent DAG runs with their task states.
    Runs(crate::scheduler_cli::RunsArgs),
    /// Check the live stack: the stream job's lag, a table's row count (exit 1 on failure).
    Check {
        #[command(subcommand)]
        command: crate::scheduler_cli::CheckCommand,
    },
    /// Print the effective configuration (defaults, file and environment merged) as TOML;
    /// passwords, tokens and other secrets are hidden unless --show-secrets.
    Config {
        /// Print secrets (web.password, web.api_token, cassandra.password, Kafka *password*
        /// and *secret* properties) as they are.
        #[arg(long)]
        show_secrets: bool,
    },
    /// Print the cassflow.toml equivalent to a DataStax Apache Kafka Connector sink
    /// configuration, to move a Kafka Connect sink over to cassflow.
    ///
    /// Reads the connector's `.properties` file or Connect's JSON (`{"name": ..., "config":
    /// {...}}`): `topics`, each `topic.<topic>.<keyspace>.<table>.mapping` (a pipeline per
    /// table, its `col=value.f, col2=key, col3=header.h, __ttl=value.t, __timestamp=value.ts`
    /// as `columns`), `ttl`, `ttlTimeUnit`, `timestampTimeUnit`, `deletesEnabled`,
    /// `nullToUnset`, `consistencyLevel` (the connector's default LOCAL_ONE is written out),
    /// `query`, `codec.*`, `contactPoints` with `port`, `auth.*` and `ssl.*`. Tuning settings
    /// are listed as comments. A setting cassflow cannot express (TLS to Cassandra, Kerberos,
    /// Astra bundles, Avro, transforms, ...) fails the import with its name and why, exit 1.
    /// Needs no running server; the printed file names no Kafka brokers unless the input does.
    ///
    #[command(after_help = IMPORT_CONNECTOR_EXAMPLES)]
    ImportConnector {
        /// The connector configuration: `.properties` or JSON.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Print a shell completion script to stdout.
    #[command(after_help = COMPLETIONS_EXAMPLES)]
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

// Examples are printed as written (doc comments are re-wrapped into paragraphs, which ran
// them together on one line).
const PRODUCE_EXAMPLES: &str = "\
Examples:
  cassflow produce --count 10000 --source generator
  cassflow produce --duration 60s --rate 500
  cassflow produce --source stdin < users.jsonl
  cassflow produce --pipeline orders < orders.jsonl   (keyed by the pipeline's `key`)
  printf 'not json\\n' | cassflow produce --raw";

const COMPLETIONS_EXAMPLES: &str = "\
Examples:
  cassflow completions bash > ~/.local/share/bash-completion/completions/cassflow
  cassflow completions zsh > ~/.zfunc/_cassflow   (with ~/.zfunc in $fpath)
  cassflow completions fish > ~/.config/fish/completions/cassflow.fish";

const IMPORT_CONNECTOR_EXAMPLES: &str = "\
Example:
  cassflow import-connector cassandra-sink.properties > cassflow.toml
  cassflow --config cassflow.toml config     (check it loads)";

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Records in the pre-filled topic (sink throughput) and in each producer run.
    #[arg(long, default_value_t = 1_000_000)]
    pub records: u64,
    /// Which peers to measure (cassflow is always the reference).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "cassflow,spark,connect,raw,producer,avro"
    )]
    pub peers: Vec<cassflow::bench::Peer>,
    /// Fixed rates (records/s) of the end-to-end latency runs; `--latency-rates` with no
    /// value skips them.
    #[arg(long, value_delimiter = ',', num_args = 0.., default_value = "1000,5000,20000")]
    pub latency_rates: Vec<u32>,
    /// How long each latency rate runs.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub latency_duration: std::time::Duration,
    /// cassflow stream instance counts for the sink runs.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    pub instances: Vec<usize>,
    /// Writes in flight of the raw driver loop (128 was its best of 128..1024 here).
    #[arg(long, default_value_t = 128)]
    pub raw_concurrency: usize,
    /// Batches in flight of the grouped raw driver loop (UNLOGGED batches of up to
    /// stream.batch_max_rows rows of one replica set).
    #[arg(long, default_value_t = 32)]
    pub raw_batch_concurrency: usize,
    /// Where benchmarks.md, bench-results.json and bench.png are written.
    #[arg(long, default_value = "docs")]
    pub out: std::path::PathBuf,
    /// Do not draw bench.png (drawing needs the bench's Python venv).
    #[arg(long)]
    pub no_chart: bool,
    /// Measure nothing: rewrite benchmarks.md and bench.png from the bench-results.json
    /// already in --out.
    #[arg(long)]
    pub report_only: bool,
    /// Run even when the machine is busy (1-minute load average above 0.5 per core); the
    /// report then marks every figure as measured on a busy machine.
    #[arg(long)]
    pub allow_busy: bool,
    /// Runs of the raw driver loop and of each cassflow sink run (each into a fresh
    /// table); the median run is reported with the spread beside it. Spark and Kafka
    /// Connect run once.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeats: u32,
}

#[derive(Debug, Subcommand)]
pub enum LocalCommand {
    /// Download (first run only), configure and start the servers (Kafka, Cassandra, and
    /// with `local.registry` Apicurio Registry); wait until they answer.
    Start,
    /// Download the servers' jars into the cache (first run only) without starting them.
    Fetch,
    /// Stop the servers: gracefully, then forcefully after `local.stop_timeout`.
    Stop,
    /// Show versions, ports, pids, uptime and data size. Exits 3 unless all are running.
    Status,
    /// Print the end of the servers' logs.
    Logs {
        /// Only this server's log.
        #[arg(value_enum)]
        server: Option<ServerArg>,
        /// How many lines from the end of each log.
        #[arg(long, short = 'n', default_value_t = 50)]
        lines: usize,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ServerArg {
    Kafka,
    Cassandra,
    Registry,
}

impl From<ServerArg> for cassflow::local::Server {
    fn from(s: ServerArg) -> Self {
        match s {
            ServerArg::Kafka => cassflow::local::Server::Kafka,
            ServerArg::Cassandra => cassflow::local::Server::Cassandra,
            ServerArg::Registry => cassflow::local::Server::Registry,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct ProduceArgs {
    /// Send this many records (default: one API batch, `source.batch_size`; stdin: all lines).
    #[arg(long, value_name = "N", conflicts_with = "duration")]
    pub count: Option<u64>,
    /// Send for this long, e.g. 60s or 5m (the seed's DAG task runs for 60s).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub duration: Option<std::time::Duration>,
    /// Records per second, e.g. 500 (default: as fast as Kafka takes them).
    #[arg(long, value_name = "R", value_parser = positive_rate, allow_negative_numbers = true)]
    pub rate: Option<f64>,
    /// Where users come from (default: `source.kind`, which defaults to auto: the API when
    /// it answers, else the generator).
    #[arg(long, value_enum)]
    pub source: Option<cassflow::config::SourceKind>,
    /// Topic to send to (default: the first users pipeline's topic, users_created).
    #[arg(long)]
    pub topic: Option<String>,
    /// Produce for this pipeline (by name): into its topic, each stdin line validated for
    /// its format (a json pipeline: one JSON object per line, keyed by the pipeline's `key`,
    /// e.g. `key = "value.order_id"`; a users pipeline: users records keyed by id). A json
    /// pipeline reads stdin by default and refuses the users sources.
    #[arg(long, value_name = "NAME", conflicts_with = "topic")]
    pub pipeline: Option<String>,
    /// Seed for repeatable users (the API's `seed` parameter, or the generator's).
    #[arg(long)]
    pub seed: Option<String>,
    /// Send stdin lines untouched and without a key, like Kafka's console producer (no
    /// validation; for testing dead-letter handling). Reads stdin, so it cannot be given
    /// with --source or --seed.
    #[arg(long, conflicts_with_all = ["source", "seed"])]
    pub raw: bool,
    /// Send users records in the Confluent wire format: `avro`, `protobuf` or `json_schema`, their
    /// schema registered in `[schema_registry]` as `<topic>-value` (default: the format of
    /// the --pipeline, if it reads one; else JSON).
    #[arg(long, value_enum, conflicts_with = "raw")]
    pub format: Option<cassflow::registry::users::ProducedFormat>,
}

fn positive_rate(text: &str) -> Result<f64, String> {
    use cassflow::produce::{MAX_RATE, MIN_RATE};
    match text.parse::<f64>() {
        Ok(r) if (MIN_RATE..=MAX_RATE).contains(&r) => Ok(r),
        _ => Err(format!(
            "`{text}` is not a rate between {MIN_RATE} and {MAX_RATE} records per second (fix: give a positive number, e.g. --rate 100)"
        )),
    }
}
