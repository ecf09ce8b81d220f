//! Configuration: the typed shape of `cassflow.toml`, its defaults (equal to the seed's
//! docker-compose stack) and its validation. Loading from file and environment lives in
//! [`load`]; nothing here talks to a server.

mod cassandra_tls;
mod client_limits;
mod lenient;
mod load;
mod scheduler;
pub mod secrets;
mod table;
mod validate;

pub use cassandra_tls::CassandraTls;
pub use load::{load, load_str, ConfigError, ENV_PREFIX};
pub use scheduler::SchedulerConfig;
pub use table::{normalize_schema_type, DeclarationError, TableDeclaration};
pub use validate::{check_cql_identifier, check_topic};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The whole configuration. Every section has defaults, so an empty file is valid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub kafka: KafkaConfig,
    pub cassandra: CassandraConfig,
    /// The Confluent-compatible Schema Registry of pipelines whose `format` or `key_format`
    /// is `avro`, `protobuf` or `json_schema`.
    pub schema_registry: SchemaRegistryConfig,
    /// Topic-to-table mappings; the users pipeline of the seed is the default entry.
    pub pipelines: Vec<PipelineConfig>,
    /// Where `cassflow produce` and the scheduler's produce tasks get users.
    pub source: SourceConfig,
    /// How records are produced to Kafka.
    pub producer: ProducerConfig,
    /// The stream job: Kafka to Cassandra.
    pub stream: StreamConfig,
    pub web: WebConfig,
    pub local: LocalConfig,
    /// DAGs, their schedules and run history.
    pub scheduler: SchedulerConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            kafka: KafkaConfig::default(),
            cassandra: CassandraConfig::default(),
            schema_registry: SchemaRegistryConfig::default(),
            pipelines: vec![PipelineConfig::default()],
            source: SourceConfig::default(),
            producer: ProducerConfig::default(),
            stream: StreamConfig::default(),
            web: WebConfig::default(),
            local: LocalConfig::default(),
            scheduler: SchedulerConfig::default(),
        }
    }
}

/// Which source of users to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// The randomuser API when it answers, else the built-in generator (with a warning).
    Auto,
    /// The randomuser API (or a compatible server at `source.url`).
    Randomuser,
    /// The built-in offline generator of randomuser-shaped users.
    Generator,
    /// JSON lines on standard input, one record per line.
    Stdin,
}

/// Where users come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourceConfig {
    /// Which source of users `cassflow produce` reads by default.
    pub kind: SourceKind,
    /// Base URL of the randomuser API.
    #[serde(deserialize_with = "lenient::string")]
    pub url: String,
    /// Users per API request (the API allows up to 5000).
    pub batch_size: u32,
    /// Makes the API's and the generator's users repeatable.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub seed: Option<String>,
    /// Comma-separated nationalities for the API (e.g. `us,gb`).
    #[serde(deserialize_with = "lenient::opt_string")]
    pub nat: Option<String>,
    /// How long one API request may take.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Retries after a timeout, a 429 or a 5xx, before giving up.
    pub retries: u32,
    /// First retry delay; doubles each retry, with jitter, up to `retry_max_backoff`.
    #[serde(with = "humantime_serde")]
    pub retry_initial_backoff: Duration,
    /// Longest delay between two retries.
    #[serde(with = "humantime_serde")]
    pub retry_max_backoff: Duration,
}

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig {
            kind: SourceKind::Auto,
            url: "https://randomuser.me/api/".into(),
            batch_size: 100,
            seed: None,
            nat: None,
            timeout: Duration::from_secs(10),
            retries: 5,
            retry_initial_backoff: Duration::from_millis(500),
            retry_max_backoff: Duration::from_secs(30),
        }
    }
}

/// The Kafka producer's settings beyond the client ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProducerConfig {
    /// `none`, `gzip`, `snappy` or `lz4` (default; zstd is not built in).
    #[serde(deserialize_with = "lenient::string")]
    pub compression: String,
    /// How long librdkafka waits to fill a batch.
    #[serde(with = "humantime_serde")]
    pub linger: Duration,
    /// Maximum batch size in bytes.
    pub batch_bytes: u32,
    /// How long one record may take to be delivered, retries included.
    #[serde(with = "humantime_serde")]
    pub delivery_timeout: Duration,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            compression: "lz4".into(),
            linger: Duration::from_millis(5),
            batch_bytes: 1_000_000,
            delivery_timeout: Duration::from_secs(30),
        }
    }
}

impl Config {
    /// The first `users` pipeline (else the first pipeline): the topic the users sources
    /// (generator, randomuser, the `user_automation` DAG) write to unless told otherwise.
    pub fn users_pipeline(&self) -> &PipelineConfig {
        self.pipelines
            .iter()
            .find(|p| p.format == RecordFormat::Users)
            .unwrap_or_else(|| self.default_pipeline())
    }

    /// The first pipeline: the one `cassflow produce` and `cassflow up` use unless told otherwise.
    pub fn default_pipeline(&self) -> &PipelineConfig {
        // validate() guarantees at least one pipeline; fall back to the seed's if called before.
        static SEED: std::sync::OnceLock<PipelineConfig> = std::sync::OnceLock::new();
        self.pipelines
            .first()
            .unwrap_or_else(|| SEED.get_or_init(PipelineConfig::default))
    }
}

/// How to reach Kafka.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Comma-separated `host:port` list of brokers.
    #[serde(deserialize_with = "lenient::string")]
    pub bootstrap: String,
    /// How long one metadata or admin request may take before it counts as failed.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Extra librdkafka client properties (e.g. `security.protocol`, `sasl.mechanism`),
    /// applied to every Kafka client cassflow creates.
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            bootstrap: "localhost:9092".into(),
            request_timeout: Duration::from_secs(10),
            properties: BTreeMap::new(),
        }
    }
}

/// How to reach a Schema Registry: any that speaks Confluent's REST API (Confluent's own,
/// Apicurio's `/apis/ccompat/v7`, Karapace, Redpanda's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchemaRegistryConfig {
    /// Base URL of the Confluent-compatible API, e.g. `http://127.0.0.1:8081` for
    /// Confluent's registry or `http://127.0.0.1:8081/apis/ccompat/v7` for Apicurio's. The
    /// default is the local stack's registry (`local.registry`) on its default port.
    #[serde(deserialize_with = "lenient::string")]
    pub url: String,
    /// User name for HTTP basic authentication; unset: none.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub username: Option<String>,
    /// Password for `username` (used only when both are set).
    #[serde(deserialize_with = "lenient::opt_string")]
    pub password: Option<String>,
    /// PEM file of the CA that signed an `https` registry's certificate; unset: the
    /// system's CAs.
    pub ca: Option<PathBuf>,
    /// How long one request to the registry may take before it counts as failed (the
    /// record waits and the request is retried: a registry outage pauses the pipeline).
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
}

impl Default for SchemaRegistryConfig {
    fn default() -> Self {
        SchemaRegistryConfig {
            url: "http://127.0.0.1:8081/apis/ccompat/v7".into(),
            username: None,
            password: None,
            ca: None,
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// How to reach Cassandra and how to create keyspaces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CassandraConfig {
    /// Comma-separated `host:port` list of contact points.
    #[serde(deserialize_with = "lenient::string")]
    pub contact_points: String,
    /// User name for Cassandra's PasswordAuthenticator; unset for no authentication.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub username: Option<String>,
    /// Password for `username` (used only when both are set).
    #[serde(deserialize_with = "lenient::opt_string")]
    pub password: Option<String>,
    /// Client-to-node TLS; unset: plain connections.
    pub tls: Option<CassandraTls>,
    /// Replication factor for keyspaces cassflow creates (SimpleStrategy); unset: the
    /// server's `default_keyspace_rf` (1 unless the cluster sets it; the local stack sets
    /// it to `min(local.cassandra_nodes, 3)`; needs Cassandra 4.1 or newer).
    pub replication_factor: Option<u16>,
    /// If set, keyspaces are created with NetworkTopologyStrategy and these per-datacenter factors
    /// instead of `replication_factor`.
    pub datacenters: BTreeMap<String, u16>,
    /// How long connecting to a node may take before it counts as failed.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// How long a write waits for its node before the same write is also sent to the next
    /// replica (at most twice): a node that hangs without failing (a long GC pause, a stuck
    /// disk, a frozen VM) then slows writes by this much instead of holding them until they
    /// time out. Only idempotent writes are sent twice: never a counter update or a write
    /// of a non-frozen list. `"0s"`: off.
    #[serde(with = "humantime_serde")]
    pub speculative_delay: Duration,
}

impl Default for CassandraConfig {
    fn default() -> Self {
        CassandraConfig {
            contact_points: "localhost:9042".into(),
            username: None,
            password: None,
            tls: None,
            replication_factor: None,
            datacenters: BTreeMap::new(),
            request_timeout: Duration::from_secs(12),
            speculative_delay: Duration::from_secs(1),
        }
    }
}

impl CassandraConfig {
    /// The first contact point as (host, port) (validation made every entry `host:port`).
    pub fn first_contact_point(&self) -> (&str, u16) {
        first_host_port(&self.contact_points).unwrap_or((self.contact_points.trim(), 9042))
    }
}

/// The first entry of a comma-separated `host:port` list, split by [`split_host_port`].
pub fn first_host_port(list: &str) -> Option<(&str, u16)> {
    split_host_port(list.split(',').next()?.trim())
}

/// One `host:port` entry of `kafka.bootstrap` or `cassandra.contact_points`, split at the
/// last colon (`[::1]:9042` keeps its brackets); None unless the host is not empty and the
/// port is a number.
pub fn split_host_port(entry: &str) -> Option<(&str, u16)> {
    let (host, port) = entry.rsplit_once(':')?;
    let port = port.parse().ok()?;
    (!host.is_empty()).then_some((host, port))
}

/// One topic streamed into one table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// A short name used in logs, metrics labels and the UI.
    #[serde(deserialize_with = "lenient::string")]
    pub name: String,
    /// The Kafka topic the pipeline reads (and `cassflow produce` writes).
    #[serde(deserialize_with = "lenient::string")]
    pub topic: String,
    /// Partitions used when cassflow creates the topic.
    pub partitions: i32,
    /// Replication factor used when cassflow creates the topic (with `min.insync.replicas`
    /// a majority of it when it is 3 or more); unset: the brokers' `default.replication.factor`
    /// (1 unless the cluster sets it; the local stack sets 3, with `min.insync.replicas` 2,
    /// when it runs 3 or more brokers).
    pub topic_replication: Option<i16>,
    /// The Cassandra keyspace of `table`; created when missing whenever the table is (see
    /// `table`), with `cassandra.replication_factor` or `cassandra.datacenters`.
    #[serde(deserialize_with = "lenient::string")]
    pub keyspace: String,
    /// The Cassandra table rows are written to. Created when missing for a `users` pipeline
    /// (the users table of docs/record.md) and for any pipeline with `create_table` (the
    /// declared table); a `json` pipeline without `create_table` needs an existing table.
    #[serde(deserialize_with = "lenient::string")]
    pub table: String,
    /// Where undecodable or unwritable messages go; `<topic>.dlq` when unset.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub dead_letter_topic: Option<String>,
    /// Consumer group of the stream job; `cassflow-<name>` when unset, so every pipeline
    /// reads its topic whole (two pipelines on one topic must not share a group).
    #[serde(deserialize_with = "lenient::opt_string")]
    pub group_id: Option<String>,
    /// How values are read: `users` (the record of docs/record.md), `json` (any object,
    /// mapped by `columns`), or, in the Confluent wire format with their schemas from
    /// `[schema_registry]`, `avro`, `protobuf` or `json_schema` (mapped by `columns` too).
    pub format: RecordFormat,
    /// How keys are read for `key` and `key.<path>`: `json` (JSON when the key parses as
    /// JSON, else its text), or `avro`, `protobuf` or `json_schema` in the wire format.
    pub key_format: KeyFormat,
    /// Column name -> mapping expression: `value.<path>` (or a bare path, e.g.
    /// `customer.name`, `items[0].sku`, `value."a.b"`), `key`, `key.<path>`,
    /// `header.<name>`, `kafka.topic`, `kafka.partition`, `kafka.offset`, `kafka.timestamp`
    /// or `now()` (a timeuuid). Columns not listed read the value field of their own name.
    /// `__ttl` and `__timestamp` give a record's TTL and write time (see `ttl_unit`,
    /// `timestamp_unit`). With `query`, the keys are its bind markers.
    pub columns: BTreeMap<String, String>,
    /// The pipeline's table, declared so that `cassflow up` and `cassflow stream` create it
    /// when it is missing, for either format: first the keyspace (replication from
    /// `[cassandra]`), then each of `types` (`CREATE TYPE IF NOT EXISTS`, a type after the
    /// types it uses), then `CREATE TABLE IF NOT EXISTS keyspace.table (columns..., PRIMARY KEY
    /// ((partition_key...), clustering_key...)) WITH CLUSTERING ORDER BY (...) AND options`
    /// (the order only when a clustering column is `DESC`), each sent to the node of the
    /// lowest host id, so that instances started together create the table once (see
    /// README, "Scaling out"). Every name is quoted and every
    /// type checked against CQL's type grammar at load. A table that already exists is left
    /// as it is (a warning names declared columns it lacks or types differently). Without
    /// `create_table`, a `users` pipeline gets the users table of docs/record.md
    /// (`id uuid PRIMARY KEY`, `dob` and `registered_date` timestamp, the rest text) and a
    /// `json` pipeline creates nothing: it refuses to start on a missing table. Example:
    /// `[pipelines.create_table]` with `columns = { order_id = "uuid", total = "decimal",
    /// items = "list<text>" }` and `partition_key = ["order_id"]`.
    pub create_table: Option<TableDeclaration>,
    /// What keys the messages `cassflow produce --pipeline` writes: a value path such as
    /// `value.order_id` (or `order_id`); unset for a `json` pipeline: no key. A `users`
    /// pipeline always keys by `id`.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub key: Option<String>,
    /// TTL of every row written, e.g. `7d` or `3600s`; unset: the table's default. A
    /// record's `columns.__ttl` overrides it.
    #[serde(with = "humantime_serde")]
    pub ttl: Option<Duration>,
    /// Unit of a numeric `columns.__ttl`: `seconds`, `milliseconds`, `microseconds`,
    /// `nanoseconds`, `minutes`, `hours` or `days`.
    pub ttl_unit: TtlUnit,
    /// Unit of a numeric `columns.__timestamp` (the row's write time; text is read as
    /// ISO-8601): `microseconds`, `milliseconds`, `seconds` or `nanoseconds`. Without
    /// `__timestamp` a row's write time is its record's Kafka timestamp.
    pub timestamp_unit: TimestampUnit,
    /// A tombstone (a message with a null value) whose key fills the primary key deletes
    /// the row (with the record's write time); `false` dead-letters it (reason `tombstone`).
    pub deletes: bool,
    /// A JSON `null` (or a header without a value): `unset` leaves the column as it is (no
    /// tombstone is written), `null` writes null. An absent field is always left unset.
    pub nulls: Nulls,
    /// Consistency level of the pipeline's writes (and deletes).
    pub consistency: WriteConsistency,
    /// A custom INSERT or UPDATE instead of the upsert cassflow builds, with named bind
    /// markers, e.g. `UPDATE shop.orders SET items = items + :items WHERE id = :id`; each
    /// marker is filled by `columns.<marker>` (or the value field of its name), except the
    /// markers of `USING TIMESTAMP :ts` (the record's write time in microseconds, as the
    /// upsert has it) and `USING TTL :ttl` (`ttl` or `columns.__ttl`). Without `USING
    /// TIMESTAMP` the query, and a tombstone's delete, write at the server's clock, and
    /// records of one partition may apply in any order. Writes are at least once: an
    /// UPDATE that appends to a list or adds to a counter applies twice for a record read
    /// again (a replay) or retried after a timeout.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub query: Option<String>,
    /// Unit of a number written into a `timestamp` column (text is read as ISO-8601).
    pub epoch_unit: EpochUnit,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            name: "users".into(),
            topic: "users_created".into(),
            partitions: 6,
            topic_replication: None,
            keyspace: "spark_streams".into(),
            table: "created_users".into(),
            dead_letter_topic: None,
            group_id: None,
            format: RecordFormat::Users,
            key_format: KeyFormat::Json,
            columns: BTreeMap::new(),
            create_table: None,
            key: None,
            ttl: None,
            ttl_unit: TtlUnit::Seconds,
            timestamp_unit: TimestampUnit::Microseconds,
            deletes: true,
            nulls: Nulls::Unset,
            consistency: WriteConsistency::LocalQuorum,
            query: None,
            epoch_unit: EpochUnit::default(),
        }
    }
}

impl PipelineConfig {
    /// The replication factor to create the pipeline's topics with: `topic_replication`,
    /// or -1, which asks the brokers for their `default.replication.factor`.
    pub fn topic_replication_factor(&self) -> i16 {
        self.topic_replication.unwrap_or(-1)
    }

    pub fn dead_letter_topic(&self) -> String {
        self.dead_letter_topic
            .clone()
            .unwrap_or_else(|| format!("{}.dlq", self.topic))
    }

    /// The consumer group: `group_id`, or `cassflow-<name>` (`cassflow-users` for the
    /// seed's users pipeline).
    pub fn group_id(&self) -> String {
        self.group_id
            .clone()
            .unwrap_or_else(|| format!("cassflow-{}", self.name))
    }
}

/// The unit of a numeric per-record TTL (`columns.__ttl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TtlUnit {
    Seconds,
    Milliseconds,
    Microseconds,
    Nanoseconds,
    Minutes,
    Hours,
    Days,
}

/// The unit of a numeric per-record write time (`columns.__timestamp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimestampUnit {
    Microseconds,
    Milliseconds,
    Seconds,
    Nanoseconds,
}

/// What a JSON null writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Nulls {
    /// Leave the column as it is (no tombstone).
    Unset,
    /// Write null (a tombstone for that cell).
    Null,
}

/// The consistency level of a pipeline's writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WriteConsistency {
    Any,
    One,
    Two,
    Three,
    Quorum,
    All,
    LocalQuorum,
    EachQuorum,
    LocalOne,
}

/// The stream job's settings, shared by every pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamConfig {
    /// Cassandra writes in flight at once per pipeline (bounded concurrency). Measured with
    /// `cargo run --release --example sink_sweep` on one local node (2 cores): 16 to 256 are
    /// within 10% of each other (256 best, ~24k rows/s), 1024 is 25% slower; 256 leaves room
    /// for a multi-node cluster.
    pub max_in_flight: usize,
    /// Bytes a pipeline may hold in messages received and not yet finished (held and in
    /// flight; a `format = "json"` message counts twice, for its converted row); receiving
    /// waits while they are reached. A message larger than this is processed alone.
    pub max_in_flight_bytes: usize,
    /// Larger message values go to the dead-letter topic.
    pub max_message_bytes: usize,
    /// First delay before retrying a failed write; doubles up to `retry_max_backoff`.
    #[serde(with = "humantime_serde")]
    pub retry_initial_backoff: Duration,
    /// Longest delay between two retries of a write.
    #[serde(with = "humantime_serde")]
    pub retry_max_backoff: Duration,
    /// A record whose write keeps failing while other records of its pipeline are written
    /// goes to the dead-letter topic (reason `retries_exhausted`) after this many such
    /// tries. Tries during an outage (when no write succeeds) do not count: records wait.
    /// With `max_in_flight = 1` no other record is written meanwhile, so a failing record
    /// is never judged this way: it waits, as in an outage.
    pub max_record_retries: u32,
    /// On SIGINT/SIGTERM, how long in-flight writes may take before they are abandoned
    /// (abandoned records are not committed and are read again on restart).
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    /// Where Prometheus metrics are served (`/metrics`) when the web UI is not running.
    pub metrics_bind: Option<SocketAddr>,
    /// How far ahead of this machine's clock a record's Kafka timestamp (its write time in
    /// Cassandra) may be; a record further ahead is handled as `future_timestamp` says.
    #[serde(with = "humantime_serde")]
    pub max_future_skew: Duration,
    /// What to do with a record stamped more than `max_future_skew` ahead: `dead_letter`
    /// (reason `timestamp_in_future`) or `clamp` (write it with the current time).
    pub future_timestamp: FutureTimestamp,
    /// Which rows share an UNLOGGED batch: `partition` (rows of one partition key, as the
    /// DataStax sink does) or `replica_set` (rows whose partition keys map to the same
    /// replicas, as the Spark connector's `batch.grouping.key = replica_set`; a batch never
    /// spans replicas, so its coordinator owns every row). Rows of one partition key are
    /// always grouped, in offset order (their write times decide which version stays, as
    /// for single writes). A record's retry, counter tables and custom queries are written
    /// row by row.
    pub batch_grouping: BatchGrouping,
    /// Most rows in one batch (1 to 1000); 1 writes every row on its own. Cassandra logs a
    /// warning for an UNLOGGED batch of more partitions than
    /// `unlogged_batch_across_partitions_warn_threshold` (10 by default).
    pub batch_max_rows: usize,
    /// Most bytes of bound values in one batch. Cassandra logs a warning above
    /// `batch_size_warn_threshold` (5 KiB by default) and refuses above
    /// `batch_size_fail_threshold` (50 KiB). A row larger than this is written alone.
    pub batch_max_bytes: usize,
    /// How long a batch that is not full waits for more rows before it is sent (at most
    /// 1s; rounded up to the runtime's 1 ms timer). 0 sends what has arrived at once:
    /// batches then fill only while writes are backed up.
    #[serde(with = "humantime_serde")]
    pub batch_linger: Duration,
}

/// Which rows the stream job writes in one UNLOGGED batch (`stream.batch_grouping`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchGrouping {
    /// Rows of the same partition key.
    Partition,
    /// Rows whose partition keys have the same replicas (token-aware).
    ReplicaSet,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            max_in_flight: 256,
            max_in_flight_bytes: 64 << 20,
            max_message_bytes: 1 << 20,
            retry_initial_backoff: Duration::from_millis(100),
            retry_max_backoff: Duration::from_secs(5),
            max_record_retries: 20,
            shutdown_timeout: Duration::from_secs(30),
            metrics_bind: None,
            max_future_skew: Duration::from_secs(300),
            future_timestamp: FutureTimestamp::DeadLetter,
            batch_grouping: BatchGrouping::ReplicaSet,
            batch_max_rows: 8,
            batch_max_bytes: 4 << 10,
            batch_linger: Duration::from_millis(1),
        }
    }
}

/// What the stream does with a record whose timestamp lies too far in the future.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FutureTimestamp {
    /// Send it to the dead-letter topic with reason `timestamp_in_future`.
    DeadLetter,
    /// Write it with the current time as its write time.
    Clamp,
}

/// How a pipeline reads its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordFormat {
    /// The strict user record of docs/record.md (validated field by field).
    Users,
    /// Any JSON object; columns are filled from fields by `columns` (or by same name).
    Json,
    /// Avro in the Confluent wire format, its schema from `[schema_registry]`.
    Avro,
    /// Protobuf in the Confluent wire format, its schema from `[schema_registry]`.
    Protobuf,
    /// JSON in the Confluent wire format (a JSON Schema registered for it).
    JsonSchema,
}

impl RecordFormat {
    /// Its name in the configuration.
    pub fn name(self) -> &'static str {
        match self {
            RecordFormat::Users => "users",
            RecordFormat::Json => "json",
            RecordFormat::Avro => "avro",
            RecordFormat::Protobuf => "protobuf",
            RecordFormat::JsonSchema => "json_schema",
        }
    }

    /// Whether records carry a schema id for `[schema_registry]`.
    pub fn uses_registry(self) -> bool {
        matches!(
            self,
            RecordFormat::Avro | RecordFormat::Protobuf | RecordFormat::JsonSchema
        )
    }
}

/// How a pipeline reads its message keys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyFormat {
    /// JSON when the key parses as JSON, else its UTF-8 text.
    #[default]
    Json,
    /// Avro in the Confluent wire format, its schema from `[schema_registry]`.
    Avro,
    /// Protobuf in the Confluent wire format, its schema from `[schema_registry]`.
    Protobuf,
    /// JSON in the Confluent wire format (a JSON Schema registered for it).
    JsonSchema,
}

impl KeyFormat {
    /// The value format that reads keys the same way, if keys need the registry.
    pub fn registry_format(self) -> Option<RecordFormat> {
        match self {
            KeyFormat::Json => None,
            KeyFormat::Avro => Some(RecordFormat::Avro),
            KeyFormat::Protobuf => Some(RecordFormat::Protobuf),
            KeyFormat::JsonSchema => Some(RecordFormat::JsonSchema),
        }
    }
}

/// What a number means when it is written into a `timestamp` column: time since
/// 1970-01-01 UTC in this unit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EpochUnit {
    Seconds,
    /// Cassandra's own unit for timestamps.
    #[default]
    Milliseconds,
    Microseconds,
    Nanoseconds,
}

/// The web UI and API listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Address the web UI and REST API listen on; a non-loopback address needs a non-default `password`.
    pub bind: SocketAddr,
    /// Login name for the web UI and the REST API's basic auth.
    #[serde(deserialize_with = "lenient::string")]
    pub username: String,
    /// The default `admin` is accepted only while `bind` is a loopback address.
    #[serde(deserialize_with = "lenient::string")]
    pub password: String,
    /// A bearer token accepted by the REST API (`Authorization: Bearer ...`); none by default.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub api_token: Option<String>,
    /// Host names the UI answers to besides the bind address (and `localhost` on loopback),
    /// e.g. `["cassflow.example.com"]` behind a proxy; other `Host` headers get 421, which
    /// stops DNS rebinding. `"*"` allows any.
    pub allowed_hosts: Vec<String>,
    /// Mark cookies `Secure` even on a loopback bind: set it when a TLS proxy serves the UI
    /// over https (off loopback they are always `Secure`).
    pub secure_cookies: bool,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            username: "admin".into(),
            password: DEFAULT_PASSWORD.into(),
            api_token: None,
            allowed_hosts: Vec::new(),
            secure_cookies: false,
        }
    }
}

/// The password of the seed's Airflow; allowed for loopback use only.
pub const DEFAULT_PASSWORD: &str = "admin";

/// The local Kafka and Cassandra (and, with `registry`, Apicurio Registry) that `cassflow
/// local` and `cassflow up` run on loopback. Kafka's and Cassandra's client ports are those
/// of `kafka.bootstrap` and `cassandra.contact_points`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocalConfig {
    /// Data, logs, configs and pid files of the local servers.
    pub data_dir: PathBuf,
    /// Where resolved server jars are kept; defaults to the user cache dir (`~/.cache/cassflow`).
    pub cache_dir: Option<PathBuf>,
    /// Apache Kafka version the local stack runs (resolved from Maven Central).
    #[serde(deserialize_with = "lenient::string")]
    pub kafka_version: String,
    /// Apache Cassandra version the local stack runs (resolved from Maven Central).
    #[serde(deserialize_with = "lenient::string")]
    pub cassandra_version: String,
    /// The KRaft controller listener of the local broker.
    pub kafka_controller_port: u16,
    /// Cassandra's inter-node storage port (loopback only).
    pub cassandra_storage_port: u16,
    /// Cassandra nodes the local stack runs (1 to 3): node `i` on address `127.0.0.i`, all on
    /// the ports of `cassandra.contact_points` and `cassandra_storage_port`.
    pub cassandra_nodes: u8,
    /// The local JMX port of Cassandra node 1 (node `i` gets this plus `i - 1`), for
    /// `nodetool -p`; unset: no JMX.
    pub cassandra_jmx_port: Option<u16>,
    /// Kafka brokers the local stack runs (1 to 5): broker `i` on the `i`th entry of
    /// `kafka.bootstrap`, so with more than one broker it must list one entry per broker.
    /// Brokers 1 to 3 are also KRaft controllers (a quorum of 3 from 3 brokers on, else 1),
    /// on `kafka_controller_port` plus `i - 1`.
    pub kafka_brokers: u8,
    /// JVM heap of each local broker, as given to `-Xmx` (e.g. `512m`).
    #[serde(deserialize_with = "lenient::string")]
    pub kafka_heap: String,
    /// JVM heap of each local Cassandra node, as given to `-Xmx` (e.g. `1g`; three nodes
    /// and three brokers fit 24 GB and 2 cores with `768m` and `384m`).
    #[serde(deserialize_with = "lenient::string")]
    pub cassandra_heap: String,
    /// Run the local Cassandra with PasswordAuthenticator and CassandraAuthorizer. On start
    /// the stack logs in as the default superuser `cassandra`/`cassandra` and creates the
    /// role `cassandra.username` with `cassandra.password` (both required), LOGIN, and
    /// CREATE, MODIFY and SELECT on all keyspaces. On a cluster of your own, cassflow's role
    /// needs CREATE on all keyspaces only when cassflow creates keyspaces and tables (their
    /// creator gets every permission on them); on existing tables MODIFY and SELECT are
    /// enough, e.g. `GRANT MODIFY ON TABLE ks.t TO cassflow`.
    pub cassandra_auth: bool,
    /// Serve the local Cassandra's native port over TLS only (`client_encryption_options`):
    /// on first start the stack makes a CA, a node keystore and a truststore with `keytool`
    /// under `<data_dir>/cassandra/tls/`, and writes the CA as `ca.pem` there for
    /// `cassandra.tls.ca`.
    pub cassandra_tls: bool,
    /// Also require client certificates (`require_client_auth`; needs `cassandra_tls`): the
    /// stack makes one its CA signed, `client.pem` with its key `client-key.pem` beside
    /// `ca.pem`, for `cassandra.tls.cert` and `cassandra.tls.key`.
    pub cassandra_client_auth: bool,
    /// Extra broker properties for the local Kafka, appended to the `server.properties` it
    /// generates (so a key given here wins), e.g. `listeners` with a SASL or TLS listener.
    pub kafka_properties: BTreeMap<String, String>,
    /// How long a start may take before it counts as failed.
    #[serde(with = "humantime_serde")]
    pub start_timeout: Duration,
    /// How long a graceful stop may take before the server is killed.
    #[serde(with = "humantime_serde")]
    pub stop_timeout: Duration,
    /// The `java` executable (JDK 17 or newer).
    pub java: PathBuf,
    /// The `mvn` executable used to resolve server artifacts from Maven Central.
    pub maven: PathBuf,
    /// Also run Apicurio Registry (a Confluent-compatible schema registry) with the stack,
    /// its API at `http://127.0.0.1:<registry_port>/apis/ccompat/v7` (`https://` with
    /// `registry_tls`).
    pub registry: bool,
    /// Where the local registry keeps its schemas: `memory` (gone when it stops) or `file`
    /// (an H2 database under `<data_dir>/registry/`, so schemas and their ids outlive a
    /// restart, as the records in Kafka that name them do).
    pub registry_storage: RegistryStorage,
    /// Serve the local registry's API over HTTPS only, with a certificate of the stack's CA
    /// (the one `cassandra_tls` uses, made once by `keytool`: point `schema_registry.ca` at
    /// `<data_dir>/cassandra/tls/ca.pem` and `schema_registry.url` at `https://...`).
    pub registry_tls: bool,
    /// Make the local registry require HTTP basic authentication, with one account:
    /// `schema_registry.username` and `schema_registry.password`.
    pub registry_auth: bool,
    /// The local registry's HTTP port, on 127.0.0.1 (8081, the Confluent Schema Registry's).
    pub registry_port: u16,
    /// The local registry's management port (health checks, metrics), on 127.0.0.1.
    pub registry_management_port: u16,
    /// The `java` executable the registry runs on: Java 21 or newer (`java` may be older,
    /// Kafka and Cassandra run on 17); unset: `/usr/lib/jvm/temurin-25-jdk-amd64/bin/java` if
    /// it exists, else `java`.
    pub registry_java: Option<PathBuf>,
    /// JVM heap of the local registry, as given to `-Xmx` (e.g. `256m`).
    #[serde(deserialize_with = "lenient::string")]
    pub registry_heap: String,
    /// Apicurio Registry version the local stack runs (its `apicurio-registry-app` tarball,
    /// resolved from Maven Central).
    #[serde(deserialize_with = "lenient::string")]
    pub registry_version: String,
}

impl Default for LocalConfig {
    fn default() -> Self {
        LocalConfig {
            data_dir: PathBuf::from(".cassflow"),
            cache_dir: None,
            kafka_version: "3.9.1".into(),
            cassandra_version: "5.0.6".into(),
            kafka_controller_port: 9093,
            cassandra_storage_port: 7000,
            cassandra_nodes: 1,
            cassandra_jmx_port: None,
            kafka_brokers: 1,
            kafka_heap: "512m".into(),
            cassandra_heap: "1g".into(),
            cassandra_auth: false,
            cassandra_tls: false,
            cassandra_client_auth: false,
            kafka_properties: BTreeMap::new(),
            start_timeout: Duration::from_secs(240),
            stop_timeout: Duration::from_secs(60),
            java: PathBuf::from("java"),
            maven: PathBuf::from("mvn"),
            registry: false,
            registry_storage: RegistryStorage::Memory,
            registry_tls: false,
            registry_auth: false,
            registry_port: 8081,
            registry_management_port: 9001,
            registry_java: None,
            registry_heap: "256m".into(),
            registry_version: "3.3.3".into(),
        }
    }
}

/// Where the local registry keeps its schemas (`local.registry_storage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegistryStorage {
    /// An H2 database file in the registry's data directory: schemas survive restarts.
    File,
    /// H2 in memory: schemas are gone when the registry stops.
    Memory,
}

/// The Java the local registry runs on when `local.registry_java` is unset, if installed.
const REGISTRY_JAVA: &str = "/usr/lib/jvm/temurin-25-jdk-amd64/bin/java";

impl LocalConfig {
    pub fn cache_dir(&self) -> PathBuf {
        self.cache_dir.clone().unwrap_or_else(|| {
            dirs::cache_dir()
                .unwrap_or_else(std::env::temp_dir)
                .join("cassflow")
        })
    }

    /// The Confluent-compatible API of the local registry, when the stack runs one
    /// (`local.registry`): what a schema registry client of cassflow points at by default.
    pub fn registry_url(&self) -> Option<String> {
        let scheme = if self.registry_tls { "https" } else { "http" };
        self.registry.then(|| {
            format!(
                "{scheme}://127.0.0.1:{}/apis/ccompat/v7",
                self.registry_port
            )
        })
    }

    /// `local.registry_java`, or where unset the Temurin 25 JDK if installed, else `java`.
    pub fn registry_java(&self) -> PathBuf {
        match &self.registry_java {
            Some(java) => java.clone(),
            None if std::path::Path::new(REGISTRY_JAVA).exists() => PathBuf::from(REGISTRY_JAVA),
            None => PathBuf::from("java"),
        }
    }
}

#[cfg(test)]
mod tests;
